-- GP Patient Survey results by practice, survey year (as the period) and
-- question. A suppressed result keeps a missing `positive`, never zero.
SELECT
    practice_code,
    CAST(survey_year AS VARCHAR) AS period,
    question_id,
    positive,
    responses
FROM patient_survey
