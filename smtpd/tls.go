package smtpd

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"sync/atomic"
	"time"
)

// Certificate is a TLS certificate read from a certificate file and a key
// file, which Reload reads again. Handshakes take whichever is current, so
// a reload needs no restart and drops no session.
type Certificate struct {
	certFile, keyFile string
	cur               atomic.Pointer[tls.Certificate]
}

// LoadCertificate reads a PEM certificate chain and its key.
func LoadCertificate(certFile, keyFile string) (*Certificate, error) {
	c := &Certificate{certFile: certFile, keyFile: keyFile}
	if err := c.Reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// Reload reads the files again; on error the current certificate stays.
func (c *Certificate) Reload() error {
	kp, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("smtpd: tls: load %s and %s: %w", c.certFile, c.keyFile, err)
	}
	if kp.Leaf == nil && len(kp.Certificate) > 0 {
		kp.Leaf, err = x509.ParseCertificate(kp.Certificate[0])
		if err != nil {
			return fmt.Errorf("smtpd: tls: parse %s: %w", c.certFile, err)
		}
	}
	c.cur.Store(&kp)
	return nil
}

// GetCertificate is for tls.Config.GetCertificate.
func (c *Certificate) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cur.Load(), nil
}

// NotAfter is when the current certificate expires.
func (c *Certificate) NotAfter() time.Time {
	if kp := c.cur.Load(); kp != nil && kp.Leaf != nil {
		return kp.Leaf.NotAfter
	}
	return time.Time{}
}
