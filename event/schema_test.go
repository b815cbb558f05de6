package event

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(SchemaV1))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("v1.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("v1.json")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func validate(s *jsonschema.Schema, ev Event) error {
	b, err := json.Marshal(ev)
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		return err
	}
	return s.Validate(inst)
}

func TestSchemaV1(t *testing.T) {
	t.Parallel()
	s := compileSchema(t)
	at := time.Date(2026, 11, 20, 21, 4, 55, 0, time.FixedZone("JST", 9*3600))
	mail := &Mail{QueueID: "q1", MessageID: "a@b", Subject: "s", From: "Qoo10 <qoo10info@qoo10.jp>",
		To: []string{"o@example.test"}, ReceivedAt: at, Template: "t", Parser: "template",
		Problems: []string{"p"}, Date: &at, Forwarded: true,
		Auth: &Auth{SPF: Verdict{Result: "pass", Domain: "qoo10.jp"}, DKIM: Verdict{Result: "none"}, DMARC: Verdict{Result: "fail"}}}
	full := &Order{SellerID: "s", PackNo: "1", OrderDate: "2026-11-20T21:04:55+09:00", PaymentDate: "2026-11-20",
		PaymentMethod: "x", ShippingWay: "x", DesiredDeliveryDate: "2026-11-25", DesiredTimeSlot: "午前中",
		ShippingMessage: "m", ShippingRate: Int(0), TotalPrice: Int(1), SettlePrice: Int(2), Currency: "JPY",
		CancelReason: "r", CancelRequestedAt: "2026-11-20T21:04:55+09:00", CancelledAt: "2026-11-20T21:04:55+09:00",
		CompletedAt: "2026-11-20", Buyer: &Person{Name: "n", Kana: "k", Tel: "t", Mobile: "m", Email: "e"},
		Receiver: &Person{Name: "n", Zip: "123-4567", Address: "a"},
		Items: []Item{{OrderNo: "1", ItemNo: "2", Title: "t", SellerItemCode: "c", Option: "o", OptionCode: "oc",
			Qty: Int(1), Price: Int(2), Discount: Int(-3), Total: Int(4)}},
		Fields: []Field{{Section: "s", Label: "l", Value: "v"}}}
	valid := []Event{
		{ID: "evt_abc", Type: OrderPlaced, Version: 1, CreatedAt: at, Tenant: "shop", Data: full, Mail: mail},
		{ID: ID("x"), Type: MailUnrecognized, Version: 1, CreatedAt: at, Data: &Order{Items: []Item{}, Fields: []Field{}},
			Mail: &Mail{Subject: "", To: []string{}, ReceivedAt: at}},
		{ID: "evt_1", Type: InventoryAdjusted, Version: 1, CreatedAt: at, Data: &Adjustment{SellerID: "s", SKU: "k",
			Delta: -1, Reason: "reserve", OrderNo: "1", SourceEventID: "evt_abc", StockAfter: Int(3)}},
		{ID: "evt_2", Type: InventoryLowStock, Version: 1, CreatedAt: at, Data: &LowStock{SellerID: "s", SKU: "k", Stock: 1, Threshold: 2}},
		{ID: "evt_def", Type: OrderPlaced, Version: 1, CreatedAt: at, Tenant: "shop", Data: full, Mail: mail, Supersedes: "evt_abc"},
		{ID: "evt_3", Type: InventoryAdjusted, Version: 1, CreatedAt: at, Data: &Adjustment{SellerID: "s", SKU: "k",
			Delta: 2, Reason: "correct", OrderNo: "1", SourceEventID: "evt_def"}},
	}
	for _, ev := range valid {
		if err := validate(s, ev); err != nil {
			t.Errorf("%s: %v", ev.Type, err)
		}
	}
	bad := map[string]Event{
		"unknown type":        {ID: "evt_1", Type: "order.shipped", Version: 1, CreatedAt: at, Data: full, Mail: mail},
		"version 2":           {ID: "evt_1", Type: OrderPlaced, Version: 2, CreatedAt: at, Data: full, Mail: mail},
		"order without mail":  {ID: "evt_1", Type: OrderPlaced, Version: 1, CreatedAt: at, Data: full},
		"nil items":           {ID: "evt_1", Type: OrderPlaced, Version: 1, CreatedAt: at, Data: &Order{Fields: []Field{}}, Mail: mail},
		"date not in Japan":   {ID: "evt_1", Type: OrderPlaced, Version: 1, CreatedAt: at, Data: &Order{OrderDate: "2026-11-20T12:04:55Z", Items: []Item{}, Fields: []Field{}}, Mail: mail},
		"adjustment as order": {ID: "evt_1", Type: InventoryAdjusted, Version: 1, CreatedAt: at, Data: full},
		"supersedes no id":    {ID: "evt_1", Type: OrderPlaced, Version: 1, CreatedAt: at, Data: full, Mail: mail, Supersedes: "abc"},
	}
	for name, ev := range bad {
		if err := validate(s, ev); err == nil {
			t.Errorf("%s: validated", name)
		} else if !strings.Contains(err.Error(), "jsonschema") {
			t.Errorf("%s: unexpected error %v", name, err)
		}
	}
}
