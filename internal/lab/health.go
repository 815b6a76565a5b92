package lab

import (
	"context"
	"fmt"
	"time"

	"github.com/relayshift/relayshift/internal/lab/loadbalancer"
)

// WaitHealthy waits until each colour's target group has targets and every
// one of them is healthy — new targets past their initial health checks,
// deregistered ones drained and gone — or ctx ends. With no colour it
// waits for both.
func (l *Lab) WaitHealthy(ctx context.Context, colours ...string) error {
	if len(colours) == 0 {
		colours = []string{"blue", "green"}
	}
	for _, c := range colours {
		tg, err := l.group(c)
		if err != nil {
			return err
		}
		for !allHealthy(tg.Health()) {
			select {
			case <-ctx.Done():
				return fmt.Errorf("%s targets not healthy (%s): %w", c, describeHealth(tg.Health()), context.Cause(ctx))
			case <-time.After(25 * time.Millisecond):
			}
		}
	}
	return nil
}

func allHealthy(hs []loadbalancer.TargetHealth) bool {
	for _, h := range hs {
		if h.State != loadbalancer.StateHealthy {
			return false
		}
	}
	return len(hs) > 0
}

func describeHealth(hs []loadbalancer.TargetHealth) string {
	if len(hs) == 0 {
		return "none registered"
	}
	n := map[string]int{}
	for _, h := range hs {
		n[h.State]++
	}
	return fmt.Sprint(n)
}
