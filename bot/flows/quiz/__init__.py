"""The quiz, review, progress, scores and forget-me flows: each turns one request (bot/requests.py) into
engine calls, database writes and a reply; `bot.services` picks the flow by the request's type.

    start.py      /mirage quiz: place, first question, thread, quiz row
    play.py       clicks on a question: a letter, Hint, Stop
    questions.py  asking: fetch from the engine, save, post the case image and buttons, arm the timer
    reveal.py     a question's end: settle, reveal, then the next question or the final scoreboard
    recovery.py   after a restart: timers re-armed, overdue questions revealed, quizzes loaded on a click
    live.py       the quizzes in memory, their timers and background tasks; `QuizContext`
    review.py     spaced review and re-rating; people.py: progress, scores, forget-me
    writer.py     clicks to the database in batches; payload.py: what a question row keeps

The rules (who may answer, when to reveal) are `bot.rules.quiz`'s; the texts `bot.render.quiz`'s and
`bot.render.study`'s; the buttons `bot.ui.quiz_buttons`'s.
"""
