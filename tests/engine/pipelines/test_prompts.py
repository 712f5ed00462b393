from engine.pipelines.prompts import cut_at_end, dolly_prompt, explain_instruction


def test_dolly_prompt_is_dollys_exact_instruction_format():
    prompt = dolly_prompt("Say hello.")
    assert prompt == (
        "Below is an instruction that describes a task. Write a response that appropriately completes the "
        "request.\n\n### Instruction:\nSay hello.\n\n### Response:\n"
    )


def test_explain_instruction_names_the_condition_and_carries_every_caption_in_order():
    text = explain_instruction(" pneumothorax ", ["Chest x-ray with a rim", "CT  of the lung."])
    assert text == (
        "Explain the condition 'pneumothorax' concisely using these findings: "
        "Chest x-ray with a rim. CT of the lung."
    )


def test_cut_at_end_stops_at_dollys_end_marker():
    assert cut_at_end(" A collapsed lung.\n### End\nmore") == "A collapsed lung."
