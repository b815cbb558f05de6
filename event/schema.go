package event

import _ "embed"

// SchemaV1 is the JSON Schema (draft 2020-12) of version 1 events: the
// whole envelope, with the order, adjustment and low-stock data shapes.
//
//go:embed schema/v1.json
var SchemaV1 []byte
