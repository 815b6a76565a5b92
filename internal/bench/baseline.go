package bench

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"

	"github.com/relayshift/relayshift/internal/loadgen"
	"github.com/relayshift/relayshift/internal/poll"
)

// ListenerAPI is the one ELBv2 call the all-at-once controller makes, with
// the SDK's signature (*elbv2.Client satisfies it).
type ListenerAPI interface {
	ModifyListener(context.Context, *elbv2.ModifyListenerInput, ...func(*elbv2.Options)) (*elbv2.ModifyListenerOutput, error)
}

// AllAtOnce is the baseline relayshift is measured against: the controller
// of the seed article, with no metric gate. It flips the listener's whole
// traffic to the candidate target group, waits, runs one check, and flips
// back to the stable target group when the check fails. It has no canary
// step, no warm-up on a test route, and no alarms.
type AllAtOnce struct {
	API         ListenerAPI
	ListenerARN string
	// Stable and Candidate are the target group ARNs.
	Stable, Candidate string
	// Wait is how long the candidate takes all traffic before the check
	// (2 s in the article).
	Wait time.Duration
	// Check judges the candidate once, after Wait.
	Check func(context.Context) (CheckResult, error)
	// Sleep waits for d or until ctx is done; Now is the clock.
	Sleep func(ctx context.Context, d time.Duration) error
	Now   func() time.Time
}

// AllAtOnceResult is what one release did.
type AllAtOnceResult struct {
	// Flipped is when ModifyListener put all traffic on the candidate
	// returned; FlippedBack when the one putting it back returned (zero
	// when the candidate was kept).
	Flipped, FlippedBack time.Time
	Check                CheckResult
	// Kept is true when the check passed and the candidate keeps the
	// traffic.
	Kept bool
}

// CheckResult is one check of the candidate.
type CheckResult struct {
	Requests, Failures int
	// Healthy is the verdict: the failure rate is within the maximum.
	Healthy bool
}

// Release flips all traffic to the candidate, waits, checks, and flips
// back when the check fails (or cannot be made).
func (c *AllAtOnce) Release(ctx context.Context) (AllAtOnceResult, error) {
	var r AllAtOnceResult
	if c.API == nil || c.Check == nil || c.ListenerARN == "" || c.Stable == "" || c.Candidate == "" || c.Stable == c.Candidate {
		return r, errors.New("all-at-once: API, Check, ListenerARN and two different target groups are required")
	}
	sleep, now := c.Sleep, c.Now
	if sleep == nil {
		sleep = poll.Sleep
	}
	if now == nil {
		now = time.Now
	}
	if err := c.forwardAll(ctx, c.Candidate); err != nil {
		return r, fmt.Errorf("all-at-once: flip to the candidate: %w", err)
	}
	r.Flipped = now()
	if err := sleep(ctx, c.Wait); err != nil {
		return r, c.back(ctx, &r, now, err)
	}
	check, err := c.Check(ctx)
	r.Check = check
	if err != nil {
		return r, c.back(ctx, &r, now, fmt.Errorf("check: %w", err))
	}
	if check.Healthy {
		r.Kept = true
		return r, nil
	}
	return r, c.back(ctx, &r, now, nil)
}

// back puts all traffic on the stable target group; cause, when not nil,
// is why (an error the caller gets too).
func (c *AllAtOnce) back(ctx context.Context, r *AllAtOnceResult, now func() time.Time, cause error) error {
	// The flip back must happen even when ctx ended.
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	if err := c.forwardAll(bctx, c.Stable); err != nil {
		return errors.Join(cause, fmt.Errorf("all-at-once: flip back to stable: %w", err))
	}
	r.FlippedBack = now()
	if cause != nil {
		return fmt.Errorf("all-at-once: flipped back after: %w", cause)
	}
	return nil
}

// forwardAll makes the listener's default action forward everything to
// one target group, as the article's controller does.
func (c *AllAtOnce) forwardAll(ctx context.Context, tg string) error {
	_, err := c.API.ModifyListener(ctx, &elbv2.ModifyListenerInput{
		ListenerArn: aws.String(c.ListenerARN),
		DefaultActions: []types.Action{{
			Type: types.ActionTypeEnumForward,
			ForwardConfig: &types.ForwardActionConfig{
				TargetGroups: []types.TargetGroupTuple{{TargetGroupArn: aws.String(tg), Weight: aws.Int32(1)}},
			},
		}},
	})
	return err
}

// SampleCheck is the baseline's check: it sends Requests requests through
// the production listener (Concurrency at a time) and calls the candidate
// healthy when at most MaxFailureRate of them failed (a transport error or
// a 5xx). It is the most an after-the-flip check can see in one go.
type SampleCheck struct {
	Client *http.Client
	URL    string
	loadgen.Request
	Requests       int
	Concurrency    int
	MaxFailureRate float64
}

// Check runs the sample.
func (s SampleCheck) Check(ctx context.Context) (CheckResult, error) {
	if s.Requests < 1 || s.Concurrency < 1 || s.Client == nil {
		return CheckResult{}, errors.New("sample check: Client, Requests and Concurrency are required")
	}
	var (
		mu  sync.Mutex
		res = CheckResult{Requests: s.Requests}
		wg  sync.WaitGroup
		sem = make(chan struct{}, s.Concurrency)
	)
	for range s.Requests {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			wg.Wait()
			return res, ctx.Err()
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if s.Send(ctx, s.Client, s.URL, "").Failed() {
				mu.Lock()
				res.Failures++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	res.Healthy = float64(res.Failures) <= s.MaxFailureRate*float64(res.Requests)
	return res, ctx.Err()
}
