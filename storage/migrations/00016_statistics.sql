-- +goose Up
-- Anonymous statistics (T01 "statistics", C05 "anonymously"): pass counts
-- by month, test type, test centre, language and part, materialised by the
-- monthly statistics Schedule (docs/statistics.md). One row is a leaf cell:
-- there are no totals or margins, so a suppressed cell cannot be recovered
-- by subtraction. The table holds no candidate or registration ID, and a cell
-- under five results is stored without its numbers (n and passed NULL), so
-- the table reveals nothing about a single candidate and may outlive the
-- personal data it was computed from.
CREATE TABLE statistics_cells (
    month       date NOT NULL CHECK (month = date_trunc('month', month)::date),
    test_type   text NOT NULL CHECK (test_type <> ''),
    test_centre text NOT NULL CHECK (test_centre <> ''),
    language    text NOT NULL CHECK (language <> ''),
    part        text NOT NULL CHECK (part <> ''),
    n           integer CHECK (n >= 5),
    passed      integer CHECK (passed >= 0 AND passed <= n),
    computed_at timestamptz NOT NULL,
    PRIMARY KEY (month, test_type, test_centre, language, part),
    CHECK ((n IS NULL) = (passed IS NULL))
);
CREATE INDEX statistics_cells_test_type ON statistics_cells (test_type, month);

-- +goose Down
DROP TABLE statistics_cells;
