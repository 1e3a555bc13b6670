package sqlstore

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/gridlink/gridlink"
)

const clientColumns = `id, secret_hash, name, redirect_uris, origins, created_at`

func encodeStrings(v []string) (string, error) {
	if v == nil {
		v = []string{}
	}
	b, err := json.Marshal(v)
	return string(b), err
}

func decodeStrings(s string) ([]string, error) {
	var v []string
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, err
	}
	if len(v) == 0 {
		return nil, nil
	}
	return v, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanClient(sc scanner) (gridlink.Client, error) {
	var (
		c                 gridlink.Client
		redirects, origin string
		created           int64
	)
	if err := sc.Scan(&c.ID, &c.SecretHash, &c.Name, &redirects, &origin, &created); err != nil {
		return gridlink.Client{}, err
	}
	var err error
	if c.RedirectURIs, err = decodeStrings(redirects); err != nil {
		return gridlink.Client{}, fmt.Errorf("client %s redirect_uris: %w", c.ID, err)
	}
	if c.Origins, err = decodeStrings(origin); err != nil {
		return gridlink.Client{}, fmt.Errorf("client %s origins: %w", c.ID, err)
	}
	c.CreatedAt = fromUnix(created)
	return c, nil
}

// CreateClient stores a new client (store.ErrConflict on a duplicate id).
func (s *Store) CreateClient(ctx context.Context, c gridlink.Client) error {
	redirects, err := encodeStrings(c.RedirectURIs)
	if err != nil {
		return s.wrap("create client", err)
	}
	origins, err := encodeStrings(c.Origins)
	if err != nil {
		return s.wrap("create client", err)
	}
	_, err = s.w.ExecContext(ctx, s.q(`INSERT INTO clients (`+clientColumns+`) VALUES (?, ?, ?, ?, ?, ?)`),
		c.ID, c.SecretHash, c.Name, redirects, origins, unix(c.CreatedAt))
	return s.wrap("create client", err)
}

// Client returns one client.
func (s *Store) Client(ctx context.Context, id string) (gridlink.Client, error) {
	c, err := scanClient(s.rd().QueryRowContext(ctx, s.q(`SELECT `+clientColumns+` FROM clients WHERE id = ?`), id))
	return c, s.wrap("get client", err)
}

// Clients returns every client, ordered by creation.
func (s *Store) Clients(ctx context.Context) ([]gridlink.Client, error) {
	rows, err := s.rd().QueryContext(ctx, `SELECT `+clientColumns+` FROM clients ORDER BY created_at, pk`)
	if err != nil {
		return nil, s.wrap("list clients", err)
	}
	defer rows.Close()
	var out []gridlink.Client
	for rows.Next() {
		c, err := scanClient(rows)
		if err != nil {
			return nil, s.wrap("list clients", err)
		}
		out = append(out, c)
	}
	return out, s.wrap("list clients", rows.Err())
}

// SetClientSecret replaces a client's secret digest.
func (s *Store) SetClientSecret(ctx context.Context, id string, secretHash []byte) error {
	return s.wrap("set client secret", mustAffect(s.w.ExecContext(ctx,
		s.q(`UPDATE clients SET secret_hash = ? WHERE id = ?`), secretHash, id)))
}

// UpdateClient replaces a client's name, redirect URIs and origins.
func (s *Store) UpdateClient(ctx context.Context, c gridlink.Client) error {
	redirects, err := encodeStrings(c.RedirectURIs)
	if err != nil {
		return s.wrap("update client", err)
	}
	origins, err := encodeStrings(c.Origins)
	if err != nil {
		return s.wrap("update client", err)
	}
	return s.wrap("update client", mustAffect(s.w.ExecContext(ctx,
		s.q(`UPDATE clients SET name = ?, redirect_uris = ?, origins = ? WHERE id = ?`), c.Name, redirects, origins, c.ID)))
}

// DeleteClient removes a client and, by cascade, its users with all their
// data, codes and tokens, and its Connect sessions.
func (s *Store) DeleteClient(ctx context.Context, id string) error {
	return s.wrap("delete client", mustAffect(s.w.ExecContext(ctx,
		s.q(`DELETE FROM clients WHERE id = ?`), id)))
}
