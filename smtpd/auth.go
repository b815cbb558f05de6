package smtpd

import (
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"golang.org/x/crypto/bcrypt"

	"github.com/qoo10hook/qoo10hook/mailauth"
)

// User is an SMTP AUTH account: a seller's own forwarding relay.
//
// An authenticated session is trusted as a forwarder: when AuthServID is
// set, the Authentication-Results header with that authserv-id, which the
// relay added after checking Qoo10's mail, stands in for the SPF and DKIM
// results that forwarding broke, exactly as for a configured forwarder.
// The route's sender policy still applies to the outcome: AUTH is not a
// pass, and it does not open relaying (recipients must still be routed).
type User struct {
	Name string
	// Hash is the bcrypt hash of the password.
	Hash       []byte
	AuthServID string
}

// maxAuthFailures is how many failed AUTH attempts a session gets.
const maxAuthFailures = 3

var (
	replyAuthFailed   = smtp.ErrAuthFailed // 535 5.7.8
	replyAuthTooMany  = &smtp.SMTPError{Code: 454, EnhancedCode: smtp.EnhancedCode{4, 7, 0}, Message: "Too many failed authentication attempts"}
	replyAuthNoTLS    = &smtp.SMTPError{Code: 538, EnhancedCode: smtp.EnhancedCode{5, 7, 11}, Message: "Encryption required for requested authentication mechanism"}
	replyAuthDisabled = smtp.ErrAuthUnsupported // 502 5.7.0
	replyAuthSyntax   = &smtp.SMTPError{Code: 501, EnhancedCode: smtp.EnhancedCode{5, 5, 2}, Message: "Malformed authentication response"}
)

// decoyHash is a hash of the highest cost among the accounts': a password
// for an unknown user is compared against it, so that the answer takes as
// long as for a known user and does not tell which names exist.
func decoyHash(users []User) []byte {
	cost := bcrypt.DefaultCost
	for _, u := range users {
		if c, err := bcrypt.Cost(u.Hash); err == nil && c > cost {
			cost = c
		}
	}
	h, _ := bcrypt.GenerateFromPassword([]byte("qoo10hook-no-such-user"), cost)
	return h
}

// AuthMechanisms offers PLAIN and LOGIN over TLS when accounts exist.
// go-smtp itself offers AUTH only over TLS, and answers AUTH before
// STARTTLS with 523 5.7.10.
func (s *session) AuthMechanisms() []string {
	if len(s.s.users) == 0 || !s.env.TLS {
		return nil
	}
	return []string{sasl.Plain, sasl.Login}
}

// Auth starts an exchange of the mechanism.
func (s *session) Auth(mech string) (sasl.Server, error) {
	switch {
	case len(s.s.users) == 0:
		return nil, replyAuthDisabled
	case !s.env.TLS:
		return nil, replyAuthNoTLS
	case s.authFailures >= maxAuthFailures:
		s.s.metrics.auth.WithLabelValues("too_many").Inc()
		return nil, replyAuthTooMany
	}
	switch mech {
	case sasl.Plain:
		return ownErrors{s: s, Server: sasl.NewPlainServer(func(identity, username, password string) error {
			if identity != "" && identity != username {
				return s.authFailed("identity")
			}
			return s.login(username, password)
		})}, nil
	case sasl.Login:
		return ownErrors{s: s, Server: &loginServer{login: s.login}}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (s *session) login(username, password string) error {
	u := s.s.users[username]
	var hash []byte
	if u != nil {
		hash = u.Hash
	} else {
		hash = s.s.decoyHash()
	}
	err := bcrypt.CompareHashAndPassword(hash, []byte(password))
	if u == nil || err != nil {
		return s.authFailed("credentials")
	}
	s.user = u
	s.env.AuthUser = u.Name
	s.s.metrics.auth.WithLabelValues("success").Inc()
	s.log.Info("authenticated", "user", u.Name)
	return nil
}

func (s *session) authFailed(why string) error {
	s.authFailures++
	s.s.metrics.auth.WithLabelValues("failure").Inc()
	s.log.Info("authentication failed", "reason", why, "attempt", s.authFailures)
	return replyAuthFailed
}

// forwarder is what an authenticated session tells mailauth.
func (s *session) forwarder() *mailauth.Forwarder {
	if s.user == nil || s.user.AuthServID == "" {
		return nil
	}
	return &mailauth.Forwarder{Name: "auth:" + s.user.Name, AuthServID: s.user.AuthServID}
}

// ownErrors keeps go-sasl's own error texts (malformed responses) from
// reaching the client: they become 501 5.5.2.
type ownErrors struct {
	sasl.Server
	s *session
}

func (o ownErrors) Next(response []byte) ([]byte, bool, error) {
	c, done, err := o.Server.Next(response)
	if _, ours := err.(*smtp.SMTPError); err != nil && !ours {
		// A malformed exchange is a failed attempt too: it counts
		// towards the session's limit.
		o.s.authFailed("malformed")
		return nil, false, replyAuthSyntax
	}
	return c, done, err
}

// loginServer is the server side of the LOGIN mechanism, which go-sasl
// only has as a client: "Username:", then "Password:".
type loginServer struct {
	login    func(user, pass string) error
	username []byte
	step     int
}

func (l *loginServer) Next(response []byte) (challenge []byte, done bool, err error) {
	switch l.step {
	case 0:
		l.step = 1
		if len(response) == 0 {
			return []byte("Username:"), false, nil
		}
		// An initial response carries the user name.
		l.username = response
		l.step = 2
		return []byte("Password:"), false, nil
	case 1:
		l.username = response
		l.step = 2
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		if err := l.login(string(l.username), string(response)); err != nil {
			return nil, false, err
		}
		return nil, true, nil
	}
	return nil, false, replyAuthSyntax
}
