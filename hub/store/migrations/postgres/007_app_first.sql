-- A participant's "app first, SMS only if the app has not confirmed delivery in time" preference,
-- read from the participant's JSON, so no writer of participants has to know about it.
ALTER TABLE participants ADD COLUMN app_first BOOLEAN
    GENERATED ALWAYS AS (coalesce((data::jsonb ->> 'app_first')::boolean, false)) STORED;
CREATE INDEX participants_app_first ON participants(id) WHERE app_first;
