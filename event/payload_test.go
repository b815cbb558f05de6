package event

import (
	"reflect"
	"testing"
	"time"
)

// TestPayloadRefusesInvalidText: encoding replaces text that is not valid
// UTF-8, so an event with such text anywhere (every string field of the
// order and the mail, in turn) is not handed over undecoded.
func TestPayloadRefusesInvalidText(t *testing.T) {
	full := func() *Event {
		return &Event{ID: "evt_1", Type: OrderPlaced, CreatedAt: time.Now(), Data: &Order{
			Buyer: &Person{}, Receiver: &Person{}, Items: []Item{{}}, Fields: []Field{{}},
		}, Mail: &Mail{To: []string{""}, Problems: []string{""}, Auth: &Auth{}}}
	}
	if _, ok := full().Payload(); !ok {
		t.Fatal("a valid event is not handed over")
	}
	n := 0
	// Each run sets the n-th string field to invalid text.
	for i := 0; ; i++ {
		ev := full()
		n = 0
		var target string
		var set func(v reflect.Value, path string)
		set = func(v reflect.Value, path string) {
			switch v.Kind() {
			case reflect.Pointer:
				if !v.IsNil() {
					set(v.Elem(), path)
				}
			case reflect.Struct:
				if v.Type() == reflect.TypeFor[time.Time]() {
					return
				}
				for j := range v.NumField() {
					set(v.Field(j), path+"."+v.Type().Field(j).Name)
				}
			case reflect.Slice:
				for j := range v.Len() {
					set(v.Index(j), path+"[]")
				}
			case reflect.String:
				if n == i {
					v.SetString("\xff")
					target = path
				}
				n++
			}
		}
		set(reflect.ValueOf(ev.Data), "Order")
		set(reflect.ValueOf(ev.Mail), "Mail")
		if target == "" {
			if i < 40 {
				t.Fatalf("only %d string fields found", i)
			}
			break
		}
		if _, ok := ev.Payload(); ok {
			t.Errorf("%s not valid UTF-8, yet handed over undecoded", target)
		}
	}
}
