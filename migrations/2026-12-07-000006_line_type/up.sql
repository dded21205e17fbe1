-- The kind of line a call went to, when the caller said (makeCall's lineType): a landline may
-- get 3 artificial-voice calls in 30 days without consent (47 CFR 64.1200(a)(3)(ii)), and the
-- hand-off must decide with the same fact.
ALTER TABLE calls ADD COLUMN line_type text CHECK (line_type IN ('WIRELESS', 'LANDLINE', 'VOIP', 'UNKNOWN'));
