package testenv

import (
	"os"
	"path/filepath"
	"testing"
)

// TestTallyAdds: the counts of the packages of one run add up, whether
// the file is there yet or not.
func TestTallyAdds(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tally")
	if total, _ := addToTally(file, 3); total != 3 {
		t.Errorf("first package: total %d, want 3", total)
	}
	if err := os.WriteFile(file, []byte("5"), 0o600); err != nil {
		t.Fatal(err)
	}
	total, last := addToTally(file, 4)
	if total != 9 {
		t.Errorf("after 5: total %d, want 9", total)
	}
	if _, err := os.Stat(file); last != os.IsNotExist(err) {
		t.Errorf("last %v, but the tally file's state is %v: the last package removes it, the others keep it", last, err)
	}
}
