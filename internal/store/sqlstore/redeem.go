package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/gridlink/gridlink/internal/store"
)

// Group commit of code redemptions (SQLite).
//
// SQLite has one writer and synchronous=FULL costs one fsync per commit, so
// one redemption per transaction caps exchanges at the disk's fsync rate.
// Concurrent redemptions therefore share a transaction: each caller queues
// its request, then takes the leader lock; whoever holds it runs every
// queued request (its own included, unless an earlier leader already ran
// it) in one transaction, each inside its own savepoint so that a refused
// or failed redemption undoes only itself, commits once, and records each
// outcome. A caller returns only after the commit that carried its request,
// so an acknowledged exchange is as durable as before, and the requests of
// one batch run one after another in the one transaction, so exactly one
// redemption of a code wins, as without batching; a later one in the same
// batch is a replay and revokes the token the first one got, as it would
// in a later transaction.

// redeemQueue holds the redemptions waiting for a leader. Its zero value is
// ready.
type redeemQueue struct {
	mu      sync.Mutex // guards pending
	pending []*redeemReq
	leader  sync.Mutex // held while a batch runs
}

// redeemReq is one queued redemption; the result fields are written by
// the leader that ran it, before it releases the leader lock.
type redeemReq struct {
	ctx       context.Context
	codeHash  []byte
	clientID  string
	tokenHash []byte
	now       time.Time

	done      bool
	userRowID string
	err       error
}

// redeemGrouped redeems a code through the group commit and returns the
// user row id of the winning redemption.
func (s *Store) redeemGrouped(ctx context.Context, codeHash []byte, clientID string, tokenHash []byte, now time.Time) (string, error) {
	req := &redeemReq{ctx: ctx, codeHash: codeHash, clientID: clientID, tokenHash: tokenHash, now: now}
	q := &s.redeems
	q.mu.Lock()
	q.pending = append(q.pending, req)
	q.mu.Unlock()

	q.leader.Lock()
	if !req.done {
		q.mu.Lock()
		batch := q.pending
		q.pending = nil
		q.mu.Unlock()
		s.redeemBatch(context.WithoutCancel(ctx), batch)
	}
	q.leader.Unlock()
	return req.userRowID, req.err
}

// redeemBatch runs batch in one transaction and records every outcome.
func (s *Store) redeemBatch(ctx context.Context, batch []*redeemReq) {
	finish := func(err error) {
		for _, r := range batch {
			if err != nil && (r.err == nil || errors.Is(r.err, store.ErrCodeReplayed)) {
				// Nothing of this request's writes was committed.
				r.err, r.userRowID = err, ""
			}
			r.done = true
		}
	}
	st := redeemStmts{
		redeem:   s.writeStmt(ctx, s.q(redeemCodeSQL)),
		token:    s.writeStmt(ctx, s.q(insertTokenSQL)),
		save:     s.writeStmt(ctx, `SAVEPOINT redeem`),
		rollback: s.writeStmt(ctx, `ROLLBACK TO redeem`),
		release:  s.writeStmt(ctx, `RELEASE redeem`),
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		finish(err)
		return
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.err = err
			continue
		}
		if err := s.redeemSavepoint(ctx, tx, st, r); err != nil {
			// The transaction is in an unknown state: give it up whole.
			finish(fmt.Errorf("redemption savepoint: %w", err))
			return
		}
	}
	finish(tx.Commit())
}

// redeemStmts are the prepared statements of a batch (nil entries run as
// text).
type redeemStmts struct{ redeem, token, save, rollback, release *sql.Stmt }

// redeemSavepoint runs one redemption of a batch inside a savepoint,
// recording its outcome in r. The error is for the savepoint itself
// failing, which breaks the batch.
func (s *Store) redeemSavepoint(ctx context.Context, tx *sql.Tx, st redeemStmts, r *redeemReq) error {
	if _, err := txExec(ctx, tx, st.save, `SAVEPOINT redeem`); err != nil {
		return err
	}
	r.userRowID, r.err = s.redeemSteps(ctx, tx, st.redeem, st.token, r.codeHash, r.clientID, r.tokenHash, r.now, false)
	if r.err != nil && !errors.Is(r.err, store.ErrCodeReplayed) {
		// Undo whatever this redemption did (the UPDATE of a code whose
		// token could not be stored); a replay keeps its revocation.
		r.userRowID = ""
		if _, err := txExec(ctx, tx, st.rollback, `ROLLBACK TO redeem`); err != nil {
			return err
		}
	}
	_, err := txExec(ctx, tx, st.release, `RELEASE redeem`)
	return err
}
