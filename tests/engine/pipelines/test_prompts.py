from engine.pipelines.prompts import cut_at_end, dolly_prompt, explain_instruction


def test_dolly_prompt_is_dollys_exact_instruction_format():
    prompt = dolly_prompt("Say hello.")
    assert prompt == (
        "Below is an instruction that describes a task. Write a response that appropriately completes the "
        "request.\n\n### Instruction:\nSay hello.\n\n### Response:\n"
    )


def test_explain_instruction_names_the_condition_and_numbers_every_caption_in_order_for_citing():
    # issue 18: the explanation is written from numbered captions and cites them, like an answer to /v1/ask
    text = explain_instruction(" pneumothorax ", ["Chest x-ray with a rim [3]", "CT  of the lung."])
    assert text == (
        "Explain the condition 'pneumothorax' concisely using these findings, citing each statement's findings "
        "by their numbers in square brackets, like [1] or [1][2]; cite only numbers from 1 to 2.\n\n"
        "Findings:\n[1] Chest x-ray with a rim (3).\n[2] CT of the lung."
    )


def test_cut_at_end_stops_at_dollys_end_marker():
    assert cut_at_end(" A collapsed lung.\n### End\nmore") == "A collapsed lung."
