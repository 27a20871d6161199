-- A participant's "app first, SMS only if the app has not confirmed delivery in time" preference,
-- read from the participant's JSON, so no writer of participants has to know about it.
ALTER TABLE participants ADD COLUMN app_first INTEGER
    GENERATED ALWAYS AS (coalesce(json_extract(data, '$.app_first'), 0)) VIRTUAL;
CREATE INDEX IF NOT EXISTS participants_app_first ON participants(id) WHERE app_first = 1;
