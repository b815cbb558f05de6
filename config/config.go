// Package config loads, validates and prints qoo10hook's configuration.
package config

import (
	"time"

	"github.com/qoo10hook/qoo10hook/smtpd"
	"github.com/qoo10hook/qoo10hook/store"
	"github.com/qoo10hook/qoo10hook/webhook"
)

// Config is the whole configuration. Every scalar setting has an environment
// twin named in its env tag; the environment wins over the file.
type Config struct {
	SMTP     SMTP     `yaml:"smtp"`
	HTTP     HTTP     `yaml:"http"`
	Store    Store    `yaml:"store"`
	Delivery Delivery `yaml:"delivery"`
	Log      Log      `yaml:"log"`

	// Domains are the recipient domains accepted when no routes are
	// configured; their mail goes to the webhook below.
	Domains []string `yaml:"domains" env:"QOO10HOOK_DOMAINS"`
	// Webhook is a catch-all endpoint named "default": it receives every
	// event of every route.
	Webhook   Webhook    `yaml:"webhook"`
	Endpoints []Endpoint `yaml:"endpoints"`
	Routes    []Route    `yaml:"routes"`
	Parse     Parse      `yaml:"parse"`
	Inventory Inventory  `yaml:"inventory"`
	// Retention bounds how long buyer data is kept: see retention.go.
	Retention Retention `yaml:"retention"`

	// Sender, Forwarders and Vendor configure the front door: see smtp.go.
	Sender     Sender      `yaml:"sender"`
	Forwarders []Forwarder `yaml:"forwarders"`
	Vendor     Vendor      `yaml:"vendor"`

	// File is the path the configuration was read from, "" for none.
	File string `yaml:"-"`
}

// SMTP configures the receiving server.
type SMTP struct {
	Addr            string   `yaml:"addr" env:"QOO10HOOK_SMTP_ADDR"`
	Hostname        string   `yaml:"hostname" env:"QOO10HOOK_SMTP_HOSTNAME"`
	MaxMessageBytes ByteSize `yaml:"max_message_bytes" env:"QOO10HOOK_SMTP_MAX_MESSAGE_BYTES"`
	MaxRecipients   int      `yaml:"max_recipients" env:"QOO10HOOK_SMTP_MAX_RECIPIENTS"`
	// MaxLineLength is raised above go-smtp's 2,000 because some senders
	// write long unfolded lines.
	MaxLineLength int `yaml:"max_line_length" env:"QOO10HOOK_SMTP_MAX_LINE_LENGTH"`
	// IdleTimeout bounds the wait for each command line.
	IdleTimeout Duration `yaml:"idle_timeout" env:"QOO10HOOK_SMTP_IDLE_TIMEOUT"`
	// DataTimeout bounds the whole DATA transfer.
	DataTimeout Duration `yaml:"data_timeout" env:"QOO10HOOK_SMTP_DATA_TIMEOUT"`

	// The limits below are described in smtp.go.
	MaxHeaderBytes           ByteSize `yaml:"max_header_bytes" env:"QOO10HOOK_SMTP_MAX_HEADER_BYTES"`
	MaxMIMEParts             int      `yaml:"max_mime_parts" env:"QOO10HOOK_SMTP_MAX_MIME_PARTS"`
	MaxMIMEDepth             int      `yaml:"max_mime_depth" env:"QOO10HOOK_SMTP_MAX_MIME_DEPTH"`
	MaxReceived              int      `yaml:"max_received" env:"QOO10HOOK_SMTP_MAX_RECEIVED"`
	MaxConnections           int      `yaml:"max_connections" env:"QOO10HOOK_SMTP_MAX_CONNECTIONS"`
	MaxConnectionsPerIP      int      `yaml:"max_connections_per_ip" env:"QOO10HOOK_SMTP_MAX_CONNECTIONS_PER_IP"`
	MaxTransactionsPerMinute int      `yaml:"max_transactions_per_minute" env:"QOO10HOOK_SMTP_MAX_TRANSACTIONS_PER_MINUTE"`
	// MaxErrors is how many error replies a connection gets before
	// 421 4.7.0 closes it; MaxInflightBytes bounds the memory of all
	// messages being received and stored (452 4.3.1 past it).
	MaxErrors        int      `yaml:"max_errors" env:"QOO10HOOK_SMTP_MAX_ERRORS"`
	MaxInflightBytes ByteSize `yaml:"max_inflight_bytes" env:"QOO10HOOK_SMTP_MAX_INFLIGHT_BYTES"`
	TLS              TLS      `yaml:"tls"`
	Auth             Auth     `yaml:"auth"`
}

// HTTP configures the operators' listener: health, metrics, admin API.
type HTTP struct {
	Addr string `yaml:"addr" env:"QOO10HOOK_HTTP_ADDR"`
	// AdminToken turns on the admin API (/api/v1/) and console (/admin/):
	// clients send it as a bearer token, browsers log in with it. Empty
	// (the default) leaves both off.
	AdminToken Secret `yaml:"admin_token" env:"QOO10HOOK_ADMIN_TOKEN"`
	// MaxConnections bounds the open HTTP connections: past it new ones
	// wait to be accepted, so that probes and scrapers cannot take the
	// file descriptors SMTP needs.
	MaxConnections int `yaml:"max_connections" env:"QOO10HOOK_HTTP_MAX_CONNECTIONS"`
}

// Store configures where mail, events and the delivery queue live.
type Store struct {
	// URL is "sqlite:PATH" (the embedded default) or a postgres:// URL.
	URL string `yaml:"url" env:"QOO10HOOK_STORE"`
	// BatchMax and BatchWindow bound group commit: at most this many mails
	// per transaction, gathered for at most this long.
	BatchMax    int      `yaml:"batch_max" env:"QOO10HOOK_STORE_BATCH_MAX"`
	BatchWindow Duration `yaml:"batch_window" env:"QOO10HOOK_STORE_BATCH_WINDOW"`
	// MaxBacklog is how many mails may wait for a commit; past it SMTP
	// clients get 451 4.3.2 and come back later.
	MaxBacklog int `yaml:"max_backlog" env:"QOO10HOOK_STORE_MAX_BACKLOG"`
	// MaxBacklogBytes bounds the bytes of those mails, so memory stays
	// bounded when the disk is slower than the senders.
	MaxBacklogBytes ByteSize `yaml:"max_backlog_bytes" env:"QOO10HOOK_STORE_MAX_BACKLOG_BYTES"`
}

// Delivery configures webhook delivery.
type Delivery struct {
	// Timeout bounds one HTTP attempt, from dial to the last response byte read.
	Timeout Duration `yaml:"timeout" env:"QOO10HOOK_DELIVERY_TIMEOUT"`
	// RetrySchedule is the wait before each attempt, the first included;
	// after the last one fails the delivery is dead-lettered.
	RetrySchedule []Duration `yaml:"retry_schedule" env:"QOO10HOOK_DELIVERY_RETRY_SCHEDULE"`
	// Jitter spreads each wait by up to this fraction either way.
	Jitter float64 `yaml:"jitter" env:"QOO10HOOK_DELIVERY_JITTER"`
	// MaxRetryAfter caps the wait an endpoint can ask for with Retry-After.
	MaxRetryAfter Duration `yaml:"max_retry_after" env:"QOO10HOOK_DELIVERY_MAX_RETRY_AFTER"`
	// Concurrency is the default number of attempts in flight per endpoint.
	Concurrency int `yaml:"concurrency" env:"QOO10HOOK_DELIVERY_CONCURRENCY"`
	// ShutdownTimeout is how long running attempts may finish on shutdown.
	ShutdownTimeout Duration `yaml:"shutdown_timeout" env:"QOO10HOOK_DELIVERY_SHUTDOWN_TIMEOUT"`
	// RescueAfter is when a delivery left running by a crashed instance is
	// picked up again.
	RescueAfter Duration `yaml:"rescue_after" env:"QOO10HOOK_DELIVERY_RESCUE_AFTER"`
	// BreakerFailures consecutive failed attempts pause an endpoint for
	// BreakerCooldown (circuit breaker); then one attempt tells whether it
	// is back.
	BreakerFailures int      `yaml:"breaker_failures" env:"QOO10HOOK_DELIVERY_BREAKER_FAILURES"`
	BreakerCooldown Duration `yaml:"breaker_cooldown" env:"QOO10HOOK_DELIVERY_BREAKER_COOLDOWN"`
	// PollInterval is how often each endpoint's queue looks for due
	// deliveries; it bounds the time from 250 to the first attempt.
	PollInterval Duration `yaml:"poll_interval" env:"QOO10HOOK_DELIVERY_POLL_INTERVAL"`
}

// Log configures the structured log.
type Log struct {
	Level  string `yaml:"level" env:"QOO10HOOK_LOG_LEVEL"`   // debug, info, warn, error
	Format string `yaml:"format" env:"QOO10HOOK_LOG_FORMAT"` // json, text, or auto (text on a terminal)
}

// Webhook is the catch-all endpoint.
type Webhook struct {
	URL    string `yaml:"url" env:"QOO10HOOK_WEBHOOK_URL"`
	Secret Secret `yaml:"secret" env:"QOO10HOOK_WEBHOOK_SECRET"`
}

// JobTimeoutMargin is how long a delivery job may outlive its HTTP attempt
// (delivery.timeout) to record the outcome before it counts as stuck:
// webhook's.
const JobTimeoutMargin = webhook.JobTimeoutMargin

// DefaultEndpoint is the name of the endpoint the webhook section defines.
const DefaultEndpoint = "default"

// Endpoint is a webhook receiver.
type Endpoint struct {
	Name   string `yaml:"name"`
	URL    string `yaml:"url"`
	Secret Secret `yaml:"secret"`
	// Events filters the event types sent here; empty means all.
	Events []string `yaml:"events"`
	// Concurrency overrides delivery.concurrency for this endpoint.
	Concurrency int `yaml:"concurrency"`
}

// Route maps recipient addresses to a tenant and its endpoints.
type Route struct {
	// Tenant names the route; it travels in each event as "tenant".
	Tenant string `yaml:"tenant"`
	// Recipients are exact addresses ("orders@in.example.com"), plus-tagged
	// addresses ("orders+shop42@in.example.com") or whole domains
	// ("in.example.com" or "@in.example.com").
	Recipients []string `yaml:"recipients"`
	Endpoints  []string `yaml:"endpoints"`
	// SenderPolicy overrides sender.policy for this route's recipients.
	SenderPolicy string `yaml:"sender_policy"`
	// Inventory overrides, for this route's events, which order event
	// types reserve and release stock.
	Inventory *RouteInventory `yaml:"inventory,omitempty"`
}

// Parse extends the built-in mail parser.
type Parse struct {
	Templates    []Template        `yaml:"templates"`
	Classes      []Class           `yaml:"classes"`
	Labels       map[string]string `yaml:"labels"`
	Placeholders map[string]string `yaml:"placeholders"`
}

// Template is J·QSM template text as an operator pasted it.
type Template struct {
	Name string `yaml:"name"`
	// Type is the event type of mails of this template; empty = classify.
	Type     string `yaml:"type"`
	Subject  string `yaml:"subject"`
	Body     string `yaml:"body"`
	BodyFile string `yaml:"body_file"`
}

// Class is a classification rule: mails whose subject and body contain
// these substrings have this event type.
type Class struct {
	Type    string `yaml:"type"`
	Subject string `yaml:"subject"`
	Body    string `yaml:"body"`
}

// Default returns the configuration used where nothing else is said.
func Default() *Config {
	return &Config{
		SMTP: SMTP{
			Addr:            ":2525",
			Hostname:        smtpd.DefaultHostname,
			MaxMessageBytes: smtpd.DefaultMaxMessageBytes,
			MaxRecipients:   smtpd.DefaultMaxRecipients,
			MaxLineLength:   smtpd.DefaultMaxLineLength,
			IdleTimeout:     Duration(smtpd.DefaultIdleTimeout),
			DataTimeout:     Duration(smtpd.DefaultDataTimeout),

			MaxHeaderBytes:           DefaultMaxHeaderBytes,
			MaxMIMEParts:             DefaultMaxMIMEParts,
			MaxMIMEDepth:             DefaultMaxMIMEDepth,
			MaxReceived:              DefaultMaxReceived,
			MaxConnections:           DefaultMaxConnections,
			MaxConnectionsPerIP:      DefaultMaxConnectionsPerIP,
			MaxTransactionsPerMinute: DefaultMaxTransactionsPerMinute,
			MaxErrors:                DefaultMaxErrors,
			MaxInflightBytes:         DefaultMaxInflightBytes,
		},
		Sender: DefaultSender(),
		Vendor: Vendor{TokenLength: DefaultTokenLength},
		HTTP:   HTTP{Addr: ":8080", MaxConnections: DefaultHTTPMaxConnections},
		Store: Store{URL: "sqlite:qoo10hook.db", BatchMax: store.DefaultBatchMax, BatchWindow: Duration(500 * time.Microsecond),
			MaxBacklog: store.DefaultBacklog, MaxBacklogBytes: store.DefaultBacklogBytes},
		Delivery: Delivery{
			Timeout:         Duration(30 * time.Second),
			RetrySchedule:   StandardRetrySchedule(),
			Jitter:          0.1,
			MaxRetryAfter:   Duration(24 * time.Hour),
			Concurrency:     4,
			ShutdownTimeout: Duration(10 * time.Second),
			RescueAfter:     Duration(2 * time.Minute),
			BreakerFailures: webhook.DefaultBreakerFailures,
			BreakerCooldown: Duration(webhook.DefaultBreakerCooldown),
			PollInterval:    Duration(store.DefaultPollInterval),
		},
		Log:     Log{Level: "info", Format: "auto"},
		Domains: []string{"localhost"},

		Inventory: DefaultInventory(),
		Retention: DefaultRetention(),
	}
}

// StandardRetrySchedule is the schedule the Standard Webhooks spec suggests:
// immediately, 5 s, 5 m, 30 m, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h.
func StandardRetrySchedule() []Duration {
	var s []Duration
	for _, d := range []time.Duration{0, 5 * time.Second, 5 * time.Minute, 30 * time.Minute,
		2 * time.Hour, 5 * time.Hour, 10 * time.Hour, 14 * time.Hour, 20 * time.Hour, 24 * time.Hour} {
		s = append(s, Duration(d))
	}
	return s
}
