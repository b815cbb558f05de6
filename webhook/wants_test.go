package webhook

import "testing"

// TestWantsOptIn: an endpoint without a filter takes every type but
// order.updated, which goes only where a filter names it.
func TestWantsOptIn(t *testing.T) {
	t.Parallel()
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	all, err := NewEndpoint("all", "https://example.test/", secret, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	some, err := NewEndpoint("some", "https://example.test/", secret, []string{"order.updated"}, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		e    *Endpoint
		t    string
		want bool
	}{
		{all, "order.placed", true}, {all, "inventory.adjusted", true}, {all, "order.updated", false},
		{some, "order.updated", true}, {some, "order.placed", false},
	} {
		if got := tc.e.Wants(tc.t); got != tc.want {
			t.Errorf("%s.Wants(%s) = %v, want %v", tc.e.Name, tc.t, got, tc.want)
		}
	}
}
