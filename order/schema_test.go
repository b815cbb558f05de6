package order

import (
	"bytes"
	"encoding/json"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/qoo10hook/qoo10hook/event"
	"github.com/qoo10hook/qoo10hook/internal/testenv"
)

// TestRecordMatchesSchema checks that an order.updated event carrying a
// merged record, conflicts included, is valid event v1.
func TestRecordMatchesSchema(t *testing.T) {
	t.Parallel()
	s := testenv.EventSchema(t)
	carts := cart()
	moved := carts["paid"]
	moved.EventID, moved.Date = "evt_paid2", base.Add(2*time.Hour)
	moved.Order = &event.Order{SellerID: "s1", PackNo: "P1", Receiver: &event.Person{Address: "大阪府"}}
	r := Merge([]Source{carts["placed"], carts["paid"], carts["cancel"], moved})
	r.Tenant, r.Revision = "shop", 3
	at := base.Add(time.Minute)
	r.UpdatedAt = &at
	valid := event.Event{ID: event.ID("x"), Type: event.OrderUpdated, Version: 1, CreatedAt: at, Tenant: "shop", Data: r}
	wrong := valid
	wrong.Data = carts["placed"].Order // an order event's data is no record
	for name, ev := range map[string]event.Event{"record": valid, "order as record": wrong} {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		err = s.Validate(inst)
		if (err == nil) != (name == "record") {
			t.Errorf("%s: validation error %v", name, err)
		}
	}
}
