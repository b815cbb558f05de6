package catalog

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestScanAgreesWithRead: streaming a file gives the rows and errors
// reading it whole gives, whatever the size of the reads.
func TestScanAgreesWithRead(t *testing.T) {
	t.Parallel()
	paths, _ := filepath.Glob("testdata/*.csv")
	opts := Options{Aliases: map[string]string{"Stock Count": ColQty}}
	for _, p := range paths {
		src, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		// A file longer than the scanner's buffers, a multi-byte character
		// cut at every buffer boundary.
		big := append(bytes.Clone(src), bytes.Repeat(src[bytes.IndexByte(src, '\n')+1:], 2000)...)
		for _, in := range [][]byte{src, big} {
			want, err := Read(p, bytes.NewReader(in), opts)
			if err != nil {
				t.Fatal(err)
			}
			var rows []Row
			got, err := Scan(p, bytes.NewReader(in), opts, func(r Row) error {
				r.Cells = append([]string(nil), r.Cells...)
				rows = append(rows, r)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			for i := range want.Rows {
				want.Rows[i].qtyStart, want.Rows[i].qtyEnd = 0, 0
			}
			if !reflect.DeepEqual(rows, want.Rows) || !reflect.DeepEqual(got.Errors, want.Errors) ||
				got.Encoding != want.Encoding || got.Kind != want.Kind || got.CRLF != want.CRLF {
				t.Errorf("%s (%d bytes): Scan differs from Read: %d rows, %d errors, %s; want %d, %d, %s", p, len(in),
					len(rows), len(got.Errors), got.Encoding, len(want.Rows), len(want.Errors), want.Encoding)
			}
		}
	}
	if _, err := Scan("big.csv", strings.NewReader("a,b\n1,2\n"), Options{MaxBytes: 4}, func(Row) error { return nil }); !errors.Is(err, ErrTooLarge) {
		t.Errorf("Scan over MaxBytes: %v, want ErrTooLarge", err)
	}
	stop := errors.New("stop")
	if _, err := Scan(paths[0], bytes.NewReader(mustRead(t, paths[0])), opts, func(Row) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("Scan with a failing callback: %v", err)
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
