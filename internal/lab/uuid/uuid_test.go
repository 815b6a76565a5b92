package uuid

import (
	"regexp"
	"testing"
)

func TestUUIDs(t *testing.T) {
	v4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	v8 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	seen := map[string]bool{}
	for range 1000 {
		u := New()
		if !v4.MatchString(u) {
			t.Fatalf("New() = %q: not a version 4 UUID", u)
		}
		if seen[u] {
			t.Fatalf("New() repeated %q", u)
		}
		seen[u] = true
	}
	a := FromName("arn:aws:cloudwatch:us-east-1:123456789012:alarm:x")
	if !v8.MatchString(a) || a != FromName("arn:aws:cloudwatch:us-east-1:123456789012:alarm:x") || a == FromName("other") {
		t.Fatalf("FromName = %q: want a stable version 8 UUID per name", a)
	}
}
