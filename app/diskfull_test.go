package app

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// smallDisk mounts a tmpfs of size bytes for the test and returns its
// path; without root (CI runs as root) the test is skipped.
func smallDisk(t *testing.T, size string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a size-limited tmpfs needs root (CI runs as root); skipped")
	}
	dir := t.TempDir()
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs (%v: %s); skipped", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", dir).Run() })
	return dir
}

// fill writes a file in dir until the disk is full, and returns it.
func fill(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "filler")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	chunk := make([]byte, 64<<10)
	for {
		if _, err := f.Write(chunk); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	// And the last bytes a smaller write still finds.
	for _, n := range []int{4096, 512, 1} {
		for {
			if _, err := f.Write(chunk[:n]); err != nil {
				break
			}
		}
	}
	return path
}

// TestDiskFull: on a full disk mail gets 451 and /readyz says not ready;
// once space is back the next mail gets 250 and /readyz ready, with no
// operator in between.
func TestDiskFull(t *testing.T) {
	dir := smallDisk(t, "8m")
	cfg := testConfig(t, "sqlite:"+filepath.Join(dir, "store.db"), "")
	cfg.HTTP.AdminToken = testAdminToken
	svc := start(t, cfg)
	base := "http://" + svc.svc.HTTPAddr()
	raw := fixture(t, "stockgear-order-utf8.eml")
	n := 0
	mail := func() error {
		n++
		m := bytes.Replace(raw, []byte("Message-ID: <"), fmt.Appendf(nil, "Message-ID: <disk-%d.", n), 1)
		m = append(m, []byte(strings.Repeat("padding to fill pages\r\n", 2000))...)
		return send(t, svc.svc.SMTPAddr(), []string{"orders@in.example.test"}, m)
	}
	if err := mail(); err != nil {
		t.Fatal(err)
	}
	filler := fill(t, dir)
	// Not ready before a commit fails: the disk is below its reserve.
	if code, body := getReady(t, base); code != 503 || !strings.Contains(body, "store") {
		t.Errorf("readyz on a full disk, before any mail: %d %q, want 503 naming the store", code, body)
	}
	refused := false
	for range 50 {
		if err := mail(); err != nil {
			if code := replyCode(err); code != 451 {
				t.Fatalf("mail on a full disk: %v, want 451", err)
			}
			refused = true
			break
		}
	}
	if !refused {
		t.Fatal("50 mails on a full disk all got 250")
	}
	if code, body := getReady(t, base); code != 503 || !strings.Contains(body, "store") {
		t.Errorf("readyz on a full disk: %d %q, want 503 naming the store", code, body)
	}

	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if err := mail(); err != nil {
		t.Errorf("the first mail once space is back: %v, want 250", err)
	}
	if code, body := getReady(t, base); code != 200 {
		t.Errorf("readyz once space is back: %d %q", code, body)
	}
	for range 5 {
		if err := mail(); err != nil {
			t.Errorf("mail once space is back: %v, want 250", err)
		}
	}
}
