package catalog

import "testing"

func TestParseCount(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		why  string
	}{
		{"0", 0, ""},
		{"12", 12, ""},
		{" 12 ", 12, ""},
		{"\u300012\t", 12, ""},
		{"１２３", 123, ""},
		{"1,980", 1980, ""},
		{"１，９８０", 1980, ""},
		{"1,234,567", 1234567, ""},
		{"¥1,980", 1980, ""},
		{"¥ 1,980", 1980, ""},
		{"￥1,980", 1980, ""},
		{`\1,980`, 1980, ""},
		{"1,980円", 1980, ""},
		{"1980 円", 1980, ""},
		{"12.0", 12, ""},
		{"12.00", 12, ""},
		{"9223372036854775807", 9223372036854775807, ""},
		{"", 0, "is not a number"},
		{"abc", 0, "is not a number"},
		{"12a", 0, "is not a number"},
		{"1 2", 0, "is not a number"},
		{"12,34", 0, "is not a number"},
		{",123", 0, "is not a number"},
		{"1234,567", 0, "is not a number"},
		{"12.", 0, "is not a number"},
		{".0", 0, "is not a number"},
		{"1.2.0", 0, "is not a number"},
		{"12\n", 0, "is not a number"},
		{"¥", 0, "is not a number"},
		{"12.5", 0, "is not a whole number"},
		{"-1", 0, "is negative"},
		{"－１", 0, "is negative"},
		{"¥-100", 0, "is negative"},
		{"-¥100", 0, "is negative"},
		{"--1", 0, "is not a number"},
		{"9223372036854775808", 0, "is out of range"},
	}
	for _, tt := range tests {
		got, why := parseCount(tt.in)
		if got != tt.want || why != tt.why {
			t.Errorf("parseCount(%q) = %d, %q; want %d, %q", tt.in, got, why, tt.want, tt.why)
		}
	}
}
