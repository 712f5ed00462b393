"""Modality from ROCO-style captions and keywords: word boundaries, compounds and precedence."""

from __future__ import annotations

import pytest

from engine.atlas.modality import MODALITIES, derive_modality


@pytest.mark.parametrize(
    ("caption", "modality"),
    [
        # x-ray family
        ("Postoperative anteroposterior radiograph of the pelvis.", "x-ray"),
        ("Chest X-ray (AP view) after endotracheal intubation.", "x-ray"),
        ("Barium meal follow through showed dilatation of the duodenum.", "x-ray"),
        ("Orthopantomogram with multilocular radiolucent lesions in the mandible.", "x-ray"),
        ("It shows the OPG with deformities in the mandible.", "x-ray"),
        ("Mammographie de profil montrant une opacité du sein gauche.", "x-ray"),
        ("Chest film showing a right pneumothorax.", "x-ray"),
        # CT: the word, not the letters
        ("Axial CT image shows a left superior vena cava (arrow).", "ct"),
        ("Contrast-enhanced computerized tomography abdomen axial scan.", "ct"),
        ("HRCT of the lungs with honeycombing.", "ct"),
        ("The act of swallowing was impaired in this patient.", "other"),
        ("Optical coherence tomography of the macula.", "other"),  # OCT is not CT
        # MRI
        ("Post-operative sagittal T1-weighted MRI with gadolinium contrast.", "mri"),
        ("MR Image through the common femoral region showing a low signal mass.", "mri"),
        ("Axial T2 gradient echo sequence shows blooming artifacts.", "mri"),  # echo here is MRI
        ("T2FatSat; pathologic valve in the junction of the left IJV.", "mri"),
        ("Preintervention MRCP revealing a stone in the cystic duct.", "mri"),
        ("Axial apparent diffusion coefficient map shows a low signal nodule.", "mri"),
        ("Axial CT image at T10 indicating atrophy of the vertebral bodies.", "ct"),  # T10 is not T1
        # ultrasound
        ("Transabdominal ultrasound in a 16-year-old adolescent.", "ultrasound"),
        ("Patent ductus arteriosus in transthoracic echocardiography.", "ultrasound"),
        ("Endoscopic ultrasound findings: a hypoechoic tumor.", "ultrasound"),
        ("Color Doppler shows flow in the mass.", "ultrasound"),
        ("Sonographic image of the appendix.", "ultrasound"),
        # angiography, including CT/MR angiography
        ("CT angiogram of the left leg shows a popliteal pseudoaneurysm.", "angiography"),
        ("CTA of the circle of Willis.", "angiography"),
        ("Magnetic resonance angiography showing no aneurysm.", "angiography"),
        ("Left coronary arteriogram in the right anterior oblique projection.", "angiography"),
        ("After stent placement, angiogram showed good dilatation of the iliac artery.", "angiography"),
        ("Digital subtraction angiography of the internal carotid artery.", "angiography"),
        # nuclear
        ("PET/CT shows intense FDG uptake in the mediastinum.", "nuclear"),
        ("Single photon emission computed tomography of the brain.", "nuclear"),
        ("Tc-99m bone scan with increased uptake in the left femur.", "nuclear"),
        ("Whole-body scintigraphy with multiple hot spots.", "nuclear"),
        ("The patient's pet dog had bitten the hand.", "other"),  # "pet" is not PET
        # precedence: the modality named first is the image's own
        ("An axial CT scan, on which one can see the MRI-verified herniation.", "ct"),
        ("MRI of the brain; CT had been normal.", "mri"),
        # nothing radiological
        ("Clinical photograph of the smile after treatment.", "other"),
        ("", "other"),
    ],
)
def test_caption_gives_modality(caption: str, modality: str):
    assert derive_modality(caption, []) == modality


def test_keywords_decide_when_the_caption_names_no_modality():
    assert derive_modality("Case 2, tibial fracture.", ["xray", "tibia"]) == "x-ray"
    assert derive_modality("Follow-up at three months.", ["usg", "liver"]) == "ultrasound"
    assert derive_modality("Follow-up at three months.", ["mri"]) == "mri"


def test_strong_keyword_beats_a_weak_caption_term():
    # "MR" alone may be mitral regurgitation; the keyword says echocardiography
    assert derive_modality("Severe MR with a dilated left atrium.", ["echocardiography"]) == "ultrasound"
    assert derive_modality("Severe MR with a dilated left atrium.", []) == "mri"  # weak term still counts


def test_caption_beats_keywords():
    assert derive_modality("Chest CT showing a perihilar mass.", ["radiograph"]) == "ct"


def test_every_answer_is_a_known_modality():
    for caption in ("CT", "MRI", "x-ray", "ultrasound", "angiography", "PET", "nothing"):
        assert derive_modality(caption, []) in MODALITIES
