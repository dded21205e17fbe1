-- What a schedule's calls are for: the law differs (state rules by the purposes they cover; a
-- collection schedule always keeps Reg F's quiet period after a conversation).
ALTER TABLE schedules ADD COLUMN purpose text NOT NULL DEFAULT 'COLLECTION'
    CHECK (purpose IN ('COLLECTION', 'INFORMATIONAL', 'TELEMARKETING'));
-- A schedule that switched the quiet period off cannot be a collection schedule.
UPDATE schedules SET purpose = 'INFORMATIONAL' WHERE NOT quiet_period_after_conversation;
