package bench

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	elbv2 "github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2"
	"github.com/aws/aws-sdk-go-v2/service/elasticloadbalancingv2/types"
	"github.com/google/go-cmp/cmp"

	"github.com/relayshift/relayshift/internal/loadgen"
)

const (
	listenerARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/relay/0123456789abcdef/0123456789abcdef"
	blueARN     = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/relay-blue/1111111111111111"
	greenARN    = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/relay-green/2222222222222222"
)

// fakeALB is a listener with a default forward action and the traffic it
// routes: ModifyListener replaces the action (as ELBv2 does: the whole
// list), and the production server answers as the target group the
// action forwards to would.
type fakeALB struct {
	mu      sync.Mutex
	forward string   // the target group taking all traffic
	writes  []string // the target group of every ModifyListener
	fail    error    // ModifyListener's error, when set
	// candidateFailsEvery: the candidate's n-th request fails when n is a
	// multiple of it (0: never).
	candidateFailsEvery int
	candidateServed     int
}

func (f *fakeALB) ModifyListener(_ context.Context, in *elbv2.ModifyListenerInput, _ ...func(*elbv2.Options)) (*elbv2.ModifyListenerOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return nil, f.fail
	}
	if aws.ToString(in.ListenerArn) != listenerARN || len(in.DefaultActions) != 1 || in.DefaultActions[0].Type != types.ActionTypeEnumForward ||
		in.DefaultActions[0].ForwardConfig == nil || len(in.DefaultActions[0].ForwardConfig.TargetGroups) != 1 {
		return nil, errors.New("ValidationError: want one forward action to one target group on the listener")
	}
	f.forward = aws.ToString(in.DefaultActions[0].ForwardConfig.TargetGroups[0].TargetGroupArn)
	f.writes = append(f.writes, f.forward)
	return &elbv2.ModifyListenerOutput{}, nil
}

func (f *fakeALB) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	f.mu.Lock()
	bad := false
	if f.forward == greenARN {
		f.candidateServed++
		bad = f.candidateFailsEvery > 0 && f.candidateServed%f.candidateFailsEvery == 0
	}
	f.mu.Unlock()
	if bad {
		http.Error(w, "candidate error", http.StatusInternalServerError)
		return
	}
	w.Write([]byte(`{"object":"chat.completion"}`))
}

func TestAllAtOnce(t *testing.T) {
	for _, tc := range []struct {
		name       string
		failsEvery int
		wantKept   bool
		wantWrites []string
		wantFailed int
	}{
		{"a candidate failing every request is flipped back", 1, false, []string{greenARN, blueARN}, 20},
		{"one failure in ten is above 5%: flipped back", 10, false, []string{greenARN, blueARN}, 2},
		{"one failure in twenty is 5%, not above: kept", 20, true, []string{greenARN}, 1},
		{"a healthy candidate is kept", 0, true, []string{greenARN}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alb := &fakeALB{forward: blueARN, candidateFailsEvery: tc.failsEvery}
			prod := httptest.NewServer(alb)
			defer prod.Close()
			var slept []time.Duration
			ctl := &AllAtOnce{
				API: alb, ListenerARN: listenerARN, Stable: blueARN, Candidate: greenARN, Wait: 2 * time.Second,
				Check: SampleCheck{Client: prod.Client(), URL: prod.URL, Request: loadgen.Request{Method: http.MethodPost}, Requests: 20, Concurrency: 4, MaxFailureRate: 0.05}.Check,
				Sleep: func(_ context.Context, d time.Duration) error { slept = append(slept, d); return nil },
			}
			res, err := ctl.Release(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantWrites, alb.writes); diff != "" {
				t.Errorf("ModifyListener calls (-want +got):\n%s", diff)
			}
			if res.Kept != tc.wantKept || res.Check.Requests != 20 || res.Check.Failures != tc.wantFailed {
				t.Errorf("result %+v, want kept %v and %d of 20 failed", res, tc.wantKept, tc.wantFailed)
			}
			if res.Flipped.IsZero() || res.FlippedBack.IsZero() == !tc.wantKept {
				t.Errorf("flipped at %v, back at %v", res.Flipped, res.FlippedBack)
			}
			if diff := cmp.Diff([]time.Duration{2 * time.Second}, slept); diff != "" {
				t.Errorf("waits before the check (-want +got):\n%s", diff)
			}
		})
	}
}

func TestAllAtOnceFlipsBackWhenItCannotCheck(t *testing.T) {
	alb := &fakeALB{forward: blueARN}
	ctl := &AllAtOnce{
		API: alb, ListenerARN: listenerARN, Stable: blueARN, Candidate: greenARN, Wait: 2 * time.Second,
		Check: func(context.Context) (CheckResult, error) { return CheckResult{}, errors.New("no route") },
		Sleep: func(context.Context, time.Duration) error { return nil },
	}
	if _, err := ctl.Release(context.Background()); err == nil {
		t.Fatal("no error from a failed check")
	}
	if diff := cmp.Diff([]string{greenARN, blueARN}, alb.writes); diff != "" {
		t.Errorf("ModifyListener calls (-want +got):\n%s", diff)
	}

	// Interrupted during the wait: back to stable too, even though the
	// context has ended.
	alb = &fakeALB{forward: blueARN}
	ctx, cancel := context.WithCancel(context.Background())
	ctl.API = alb
	ctl.Sleep = func(context.Context, time.Duration) error { cancel(); return context.Canceled }
	if _, err := ctl.Release(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
	if alb.forward != blueARN {
		t.Errorf("the listener forwards to %s after an interrupted release", alb.forward)
	}
}

func TestAllAtOnceRefuses(t *testing.T) {
	alb := &fakeALB{forward: blueARN}
	for _, ctl := range []*AllAtOnce{
		{API: alb, ListenerARN: listenerARN, Stable: blueARN, Candidate: blueARN, Check: SampleCheck{}.Check},
		{API: alb, Stable: blueARN, Candidate: greenARN, Check: SampleCheck{}.Check},
		{ListenerARN: listenerARN, Stable: blueARN, Candidate: greenARN, Check: SampleCheck{}.Check},
	} {
		if _, err := ctl.Release(context.Background()); err == nil {
			t.Errorf("%+v: no error", ctl)
		}
	}
	alb.fail = errors.New("AccessDenied")
	ctl := &AllAtOnce{API: alb, ListenerARN: listenerARN, Stable: blueARN, Candidate: greenARN, Check: SampleCheck{}.Check}
	if _, err := ctl.Release(context.Background()); err == nil {
		t.Error("no error when the flip fails")
	}
	if len(alb.writes) != 0 || alb.forward != blueARN {
		t.Errorf("writes %v, forward %s", alb.writes, alb.forward)
	}
}
