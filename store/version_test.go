package store

import (
	"errors"
	"strings"
	"testing"

	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// TestOldBinaryRefusesNewStore: a store migrated by a newer release (it
// records a version this binary does not embed) is refused with a message
// that says so, and left untouched.
func TestOldBinaryRefusesNewStore(t *testing.T) {
	for _, st := range testenv.Stores(t) {
		t.Run(st.Name, func(t *testing.T) {
			s := open(t, st.URL, Options{})
			known := KnownVersions()
			if v, err := s.SchemaVersion(t.Context()); err != nil || v != known[len(known)-1] {
				t.Fatalf("SchemaVersion = %d, %v; want %d", v, err, known[len(known)-1])
			}
			if _, err := s.db.ExecContext(t.Context(), `INSERT INTO qoo10hook_migration (version, applied_at) VALUES (999, 0)`); err != nil {
				t.Fatal(err)
			}
			s.Close()
			_, err := Open(t.Context(), Options{URL: testURL(t, st.URL)})
			if !errors.Is(err, ErrSchemaTooNew) {
				t.Fatalf("Open = %v, want ErrSchemaTooNew", err)
			}
			for _, want := range []string{"version 999", "newer than this qoo10hook knows", "restore a backup"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

// TestCheckSchemaGaps: versions may be missing from the store (merged
// later, applied when they appear); only a version the binary does not
// know makes it refuse.
func TestCheckSchemaGaps(t *testing.T) {
	t.Parallel()
	known := []int{1, 2, 3, 4, 5, 6, 7, 8, 9}
	for _, c := range []struct {
		recorded []int
		refuse   bool
	}{
		{[]int{1, 2, 3, 4, 5, 8}, false},
		{[]int{1, 2, 3, 4, 5, 6, 7, 8, 9}, false},
		{nil, false},
		{[]int{1, 2, 3, 4, 5, 8, 10}, true},
		{[]int{1, 2, 3, 4, 5, 7, 8}, false},
	} {
		err := checkSchema(known, c.recorded)
		if (err != nil) != c.refuse {
			t.Errorf("checkSchema(%v) = %v, refuse %v", c.recorded, err, c.refuse)
		}
	}
	err := checkSchema([]int{1, 2, 5, 8}, []int{1, 2, 5, 6, 8})
	var se *SchemaError
	if !errors.As(err, &se) || se.Store != 8 || se.Binary != 8 || len(se.Unknown) != 1 || se.Unknown[0] != 6 {
		t.Errorf("unknown version in a gap: %#v", err)
	}
}
