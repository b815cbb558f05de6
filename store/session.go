package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"
)

// RevokeSession records a console session ended by logout until it would
// have expired, and forgets the ones already expired.
func (s *Store) RevokeSession(ctx context.Context, id string, until time.Time) error {
	return s.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM admin_session_revoked WHERE expires_at < $1`, time.Now().Unix()); err != nil {
			return fmt.Errorf("store: revoke session: %w", err)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO admin_session_revoked (id, expires_at) VALUES ($1, $2)
			ON CONFLICT (id) DO NOTHING`, id, until.Unix())
		if err != nil {
			return fmt.Errorf("store: revoke session: %w", err)
		}
		return nil
	})
}

// SessionRevoked tells whether logout ended the console session id.
func (s *Store) SessionRevoked(ctx context.Context, id string) (bool, error) {
	var n int
	err := s.read.QueryRowContext(ctx, `SELECT count(*) FROM admin_session_revoked WHERE id = $1`, id).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: session revoked: %w", err)
	}
	return n > 0, nil
}
