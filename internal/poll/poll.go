// Package poll waits: for a condition checked at an interval, or for a
// duration, in both cases only as long as a context lasts. The demo and the
// bench wait on the local lab with it.
package poll

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrTimedOut is what Until's error wraps when its limit passed before the
// condition held.
var ErrTimedOut = errors.New("timed out")

// errLimit is the cause of Until's own deadline.
var errLimit = errors.New("poll limit")

// Until calls cond, then again every interval, until it reports true
// (Until returns nil) or an error (Until returns that error unchanged), or
// until ctx ends or limit passes (no limit when limit is 0). When limit
// passes the error wraps ErrTimedOut; when ctx ends it wraps ctx's error
// and cause (errors.Is finds both). cond gets a context that ends with the
// limit.
func Until(ctx context.Context, interval, limit time.Duration, what string, cond func(context.Context) (bool, error)) error {
	parent := ctx
	if limit > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeoutCause(ctx, limit, errLimit)
		defer cancel()
	}
	for {
		ok, err := cond(ctx)
		if err != nil {
			if parent.Err() == nil && errors.Is(context.Cause(ctx), errLimit) {
				return fmt.Errorf("waited %s for %s: %w (%w)", limit, what, ErrTimedOut, err)
			}
			return err
		}
		if ok {
			return nil
		}
		if err := Sleep(ctx, interval); err != nil {
			if parent.Err() == nil {
				return fmt.Errorf("waited %s for %s: %w", limit, what, ErrTimedOut)
			}
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
	}
}

// Sleep waits d, or until ctx ends: then its error wraps ctx's error and
// its cause (errors.Is finds context.Canceled or DeadlineExceeded, and the
// cause given to context.WithCancelCause or WithTimeoutCause).
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return Err(ctx)
	case <-t.C:
		return nil
	}
}

// Err is ctx's error joined with its cause when the cause says more (nil
// while ctx lasts).
func Err(ctx context.Context) error {
	err := ctx.Err()
	if err == nil {
		return nil
	}
	if cause := context.Cause(ctx); cause != nil && cause != err {
		return fmt.Errorf("%w (%w)", cause, err)
	}
	return err
}
