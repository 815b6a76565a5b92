package demo

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"
)

// line is one line of the timeline.
type line struct {
	at   time.Time
	seq  int
	who  string
	text string
}

// source is something the timeline polls for new lines: an execution's
// history, the alarms, the EventBridge deliveries, the load.
type source interface {
	poll(ctx context.Context, now time.Time) []line
}

// timeline prints lines in the order their events happened, whatever
// source reported them. Sources are polled every tick; a line is printed
// once lag has passed since its time, so that a slower source's earlier
// event is not printed after a later one. Everything is printed from one
// goroutine; the story adds notes and sources from another.
type timeline struct {
	w    io.Writer
	t0   time.Time
	now  func() time.Time
	lag  time.Duration
	tick time.Duration

	mu      sync.Mutex
	pending []line
	seq     int
	sources []source

	cancel context.CancelFunc
	done   chan struct{}
}

func newTimeline(w io.Writer, t0 time.Time, now func() time.Time) *timeline {
	return &timeline{w: w, t0: t0, now: now, lag: time.Second, tick: 200 * time.Millisecond}
}

// add queues lines. Times are kept to the millisecond, the precision of
// the Step Functions API's timestamps, so that lines of the same
// millisecond keep the order they were added in.
func (t *timeline) add(ls ...line) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, l := range ls {
		t.seq++
		l.seq = t.seq
		l.at = l.at.Truncate(time.Millisecond)
		t.pending = append(t.pending, l)
	}
}

// note adds a line at the current time.
func (t *timeline) note(who, format string, args ...any) {
	t.add(line{at: t.now(), who: who, text: fmt.Sprintf(format, args...)})
}

// watch adds a source.
func (t *timeline) watch(s source) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.sources = append(t.sources, s)
}

// start polls once, then polls and prints until stop.
func (t *timeline) start(ctx context.Context) {
	t.pollAll(ctx, t.now())
	ctx, t.cancel = context.WithCancel(ctx)
	t.done = make(chan struct{})
	go func() {
		defer close(t.done)
		tk := time.NewTicker(t.tick)
		defer tk.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tk.C:
			}
			now := t.now()
			t.pollAll(ctx, now)
			t.flush(now.Add(-t.lag))
		}
	}()
}

// stop polls once more and prints everything pending.
func (t *timeline) stop(ctx context.Context) {
	if t.cancel != nil {
		t.cancel()
		<-t.done
		t.cancel = nil
	}
	t.pollAll(ctx, t.now())
	t.flush(time.Time{})
}

func (t *timeline) pollAll(ctx context.Context, now time.Time) {
	t.mu.Lock()
	srcs := slices.Clone(t.sources)
	t.mu.Unlock()
	for _, s := range srcs {
		t.add(s.poll(ctx, now)...)
	}
}

// flush prints the pending lines up to until (all of them when until is
// zero), oldest first.
func (t *timeline) flush(until time.Time) {
	t.mu.Lock()
	slices.SortStableFunc(t.pending, func(a, b line) int {
		if c := a.at.Compare(b.at); c != 0 {
			return c
		}
		return a.seq - b.seq
	})
	n := len(t.pending)
	if !until.IsZero() {
		n, _ = slices.BinarySearchFunc(t.pending, until, func(l line, u time.Time) int {
			if l.at.After(u) {
				return 1
			}
			return -1
		})
	}
	out := slices.Clone(t.pending[:n])
	t.pending = slices.Delete(t.pending, 0, n)
	t.mu.Unlock()
	for _, l := range out {
		t.print(l)
	}
}

func (t *timeline) print(l line) {
	if l.who == "" {
		// A section heading.
		fmt.Fprintf(t.w, "\n%s\n", l.text)
		return
	}
	stamp, who := elapsed(l.at.Sub(t.t0)), l.who
	for i, text := range strings.Split(l.text, "\n") {
		if i > 0 {
			// A continuation: under the text of the first line.
			stamp, who = strings.Repeat(" ", len(stamp)), ""
			text = "  " + text
		}
		fmt.Fprintf(t.w, "%s %-8s %s\n", stamp, who, text)
	}
}

// elapsed renders the time since the demo started: [ 12.3s].
func elapsed(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	return fmt.Sprintf("[%5.1fs]", d.Seconds())
}
