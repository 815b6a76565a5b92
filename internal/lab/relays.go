package lab

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/relayshift/relayshift/internal/lab/loadbalancer"
	"github.com/relayshift/relayshift/internal/relaysim"
)

// startSims starts r.Instances relaysim servers on free loopback ports.
func (l *Lab) startSims(r RelaysimConfig) ([]*relaysim.Server, error) {
	faults, err := r.faults()
	if err != nil {
		return nil, err
	}
	n := r.Instances
	if n == 0 {
		n = 1
	}
	var out []*relaysim.Server
	for range n {
		s, err := relaysim.Start("127.0.0.1:0", relaysim.Config{
			Models: r.Models, APIKey: l.cfg.APIKey, Version: r.Version, TokenInterval: time.Duration(r.TokenInterval), Faults: faults,
		})
		if err != nil {
			for _, started := range out {
				started.Close()
			}
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

// stopSims shuts the current relaysim instances down (at Close).
func (l *Lab) stopSims(ctx context.Context) error {
	l.simMu.Lock()
	all := l.sims
	l.sims = map[string][]*relaysim.Server{}
	l.simMu.Unlock()
	for _, servers := range all {
		for _, s := range servers {
			s.Shutdown(ctx)
		}
	}
	return nil
}

// models lists the models the relaysim instances serve (the warm-up's
// RELAYSHIFT_WARMUP_MODELS).
func (l *Lab) models() []string {
	var out []string
	for _, cc := range []ColourConfig{l.cfg.Blue, l.cfg.Green} {
		if cc.Relaysim == nil {
			continue
		}
		ms := cc.Relaysim.Models
		if len(ms) == 0 {
			ms = relaysim.DefaultModels()
		}
		for _, m := range ms {
			if !slices.Contains(out, m) {
				out = append(out, m)
			}
		}
	}
	if len(out) == 0 {
		out = relaysim.DefaultModels()
	}
	return out
}

func (l *Lab) group(colour string) (*loadbalancer.TargetGroup, error) {
	switch colour {
	case "blue":
		return l.Blue, nil
	case "green":
		return l.Green, nil
	}
	return nil, fmt.Errorf("colour %q: want blue or green", colour)
}

// Sims returns a colour's running relaysim instances.
func (l *Lab) Sims(colour string) []*relaysim.Server {
	l.simMu.Lock()
	defer l.simMu.Unlock()
	return slices.Clone(l.sims[colour])
}

// SetFaults changes the faults of a colour's running relaysim instances.
func (l *Lab) SetFaults(colour string, f relaysim.Faults) error {
	if _, err := l.group(colour); err != nil {
		return err
	}
	for _, s := range l.Sims(colour) {
		if err := s.Sim.SetFaults(f); err != nil {
			return err
		}
	}
	return nil
}

// Release puts a new version on a colour, as CI does with an external
// release: new relaysim instances are started and registered (they go
// through initial health checks), the old ones are deregistered, drain,
// and stop when the load balancer has let them go.
func (l *Lab) Release(colour string, r RelaysimConfig) error {
	tg, err := l.group(colour)
	if err != nil {
		return err
	}
	servers, err := l.startSims(r)
	if err != nil {
		return err
	}
	var urls []string
	for _, s := range servers {
		urls = append(urls, s.URL)
	}
	l.simMu.Lock()
	old := l.sims[colour]
	l.sims[colour] = servers
	l.simMu.Unlock()
	if err := tg.RegisterTargets(urls...); err != nil {
		return err
	}
	var oldURLs []string
	for _, s := range old {
		oldURLs = append(oldURLs, s.URL)
	}
	if len(oldURLs) > 0 {
		if err := tg.DeregisterTargets(oldURLs...); err != nil {
			return err
		}
	}
	l.log.Info("released", "colour", colour, "version", r.Version, "targets", urls)
	l.wg.Go(func() {
		registered := func() bool {
			for _, h := range tg.Health() {
				for _, u := range oldURLs {
					if u == fmt.Sprintf("http://%s:%d", h.ID, h.Port) {
						return true
					}
				}
			}
			return false
		}
		for registered() && l.runCtx.Err() == nil {
			select {
			case <-l.runCtx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, s := range old {
			s.Shutdown(ctx)
		}
	})
	return nil
}
