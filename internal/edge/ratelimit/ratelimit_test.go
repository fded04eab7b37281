package ratelimit

import (
	"fmt"
	"testing"
	"time"
)

// fakeClock lets the tests move time instead of waiting.
func withClock(l *Limiters) *time.Time {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	return &now
}

func TestTakeAndRefill(t *testing.T) {
	l := New(1, 3, 0) // 3 at once, one more a second
	now := withClock(l)
	for i := range 3 {
		if ok, _ := l.Take("a"); !ok {
			t.Fatalf("take %d refused within the burst", i)
		}
	}
	ok, wait := l.Take("a")
	if ok || wait <= 0 || wait > time.Second {
		t.Fatalf("4th take: ok %v wait %s, want refused with a wait of at most 1s", ok, wait)
	}
	if ok, _ := l.Take("b"); !ok {
		t.Fatal("another key shares the bucket")
	}
	*now = now.Add(time.Second)
	if ok, _ := l.Take("a"); !ok {
		t.Fatal("not refilled after a second")
	}
	if RetryAfterSeconds(300*time.Millisecond) != 1 || RetryAfterSeconds(1500*time.Millisecond) != 2 {
		t.Fatal("Retry-After must round up to whole seconds")
	}
}

func TestCheckSpendsNothing(t *testing.T) {
	l := New(1, 1, 0)
	withClock(l)
	for range 3 {
		if ok, _ := l.Check("a"); !ok {
			t.Fatal("check spent the event")
		}
	}
	l.Take("a")
	if ok, wait := l.Check("a"); ok || wait <= 0 {
		t.Fatalf("check after the last event: ok %v wait %s", ok, wait)
	}
}

func TestIdleKeysForgotten(t *testing.T) {
	l := New(10, 10, 0) // refills in 1s
	now := withClock(l)
	for i := range 100 {
		l.Take(fmt.Sprint(i))
	}
	if l.Len() != 100 {
		t.Fatalf("%d keys", l.Len())
	}
	*now = now.Add(2 * time.Second)
	l.Take("new")
	if l.Len() != 1 {
		t.Fatalf("%d keys after they went idle, want 1", l.Len())
	}
}

func TestMaxKeys(t *testing.T) {
	l := New(1, 1, 10)
	withClock(l)
	for i := range 1000 {
		l.Take(fmt.Sprint(i))
	}
	if l.Len() > 10 {
		t.Fatalf("%d keys held, want at most 10", l.Len())
	}
	// Newcomers past the bound share one bucket: they are still limited.
	if ok, _ := l.Take("late"); ok {
		t.Fatal("a key past the bound is not limited")
	}
}

func TestNilAllows(t *testing.T) {
	var l *Limiters = New(0, 5, 0)
	if ok, _ := l.Take("a"); !ok {
		t.Fatal("a switched-off limit refused")
	}
	if ok, _ := l.Check("a"); !ok {
		t.Fatal("a switched-off limit refused")
	}
}
