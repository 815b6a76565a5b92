package poll

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestUntil(t *testing.T) {
	t.Run("the condition holds on the third check", func(t *testing.T) {
		calls := 0
		err := Until(context.Background(), time.Millisecond, time.Minute, "three calls", func(context.Context) (bool, error) {
			calls++
			return calls == 3, nil
		})
		if err != nil || calls != 3 {
			t.Fatalf("err %v after %d calls, want nil after 3", err, calls)
		}
	})
	t.Run("the condition's error is returned unchanged, at once", func(t *testing.T) {
		boom := errors.New("DescribeExecution: AccessDenied")
		calls := 0
		err := Until(context.Background(), time.Millisecond, 0, "an answer", func(context.Context) (bool, error) {
			calls++
			return false, boom
		})
		if err != boom || calls != 1 {
			t.Fatalf("err %v after %d calls, want %v after 1", err, calls, boom)
		}
	})
	t.Run("the limit passes", func(t *testing.T) {
		err := Until(context.Background(), time.Millisecond, 20*time.Millisecond, "never", func(context.Context) (bool, error) { return false, nil })
		if !errors.Is(err, ErrTimedOut) || errors.Is(err, context.Canceled) {
			t.Fatalf("err %v, want ErrTimedOut only", err)
		}
	})
	t.Run("the condition fails because the limit ended its context", func(t *testing.T) {
		err := Until(context.Background(), time.Millisecond, 20*time.Millisecond, "a slow call", func(ctx context.Context) (bool, error) {
			<-ctx.Done()
			return false, ctx.Err()
		})
		if !errors.Is(err, ErrTimedOut) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("err %v, want ErrTimedOut wrapping the call's error", err)
		}
	})
	t.Run("the context ends", func(t *testing.T) {
		interrupted := errors.New("interrupted")
		ctx, cancel := context.WithCancelCause(context.Background())
		calls := 0
		err := Until(ctx, time.Millisecond, time.Minute, "never", func(context.Context) (bool, error) {
			if calls++; calls == 2 {
				cancel(interrupted)
			}
			return false, nil
		})
		if !errors.Is(err, context.Canceled) || !errors.Is(err, interrupted) || errors.Is(err, ErrTimedOut) {
			t.Fatalf("err %v, want context.Canceled and its cause, not ErrTimedOut", err)
		}
	})
}

func TestSleep(t *testing.T) {
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("sleep: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("sleep after cancel: %v, want context.Canceled", err)
	}
	out := errors.New("out of time (--timeout)")
	ctx, cancel = context.WithTimeoutCause(context.Background(), time.Nanosecond, out)
	defer cancel()
	if err := Sleep(ctx, time.Hour); !errors.Is(err, context.DeadlineExceeded) || !errors.Is(err, out) {
		t.Fatalf("sleep past a deadline with a cause: %v, want both", err)
	}
}
