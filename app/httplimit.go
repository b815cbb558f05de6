package app

import (
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Bounds of the operators' listener. A probe, a scraper or the admin API
// answers in milliseconds; these only end what is stuck or abusive. The
// connections are bounded by http.max_connections
// (config.DefaultHTTPMaxConnections).
const (
	// HTTPReadTimeout and HTTPWriteTimeout bound one request and its
	// answer; the routes that stream (catalog upload and export, the
	// profiler) lift them (see streaming).
	HTTPReadTimeout  = 30 * time.Second
	HTTPWriteTimeout = 60 * time.Second
	// HTTPIdleTimeout closes a keep-alive connection left idle.
	HTTPIdleTimeout = 60 * time.Second
	// HTTPMaxHeaderBytes bounds a request's header block.
	HTTPMaxHeaderBytes = 64 << 10
	// streamingTimeout bounds a streaming request instead.
	streamingTimeout = 30 * time.Minute
)

func newHTTPServer(h http.Handler) *http.Server {
	return &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: HTTPReadTimeout,
		WriteTimeout: HTTPWriteTimeout, IdleTimeout: HTTPIdleTimeout, MaxHeaderBytes: HTTPMaxHeaderBytes}
}

// streaming lifts the server's read and write timeouts for a route that
// moves large bodies or takes its time (a 64 MiB upload on a slow link, a
// 30-second CPU profile), within streamingTimeout.
func streaming(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		until := time.Now().Add(streamingTimeout)
		rc.SetReadDeadline(until)
		rc.SetWriteDeadline(until)
		h.ServeHTTP(w, r)
	})
}

// limitListener keeps at most max connections open. Past it a connection
// is answered 503 and closed at once (by at most cap(refusing) goroutines
// at a time; beyond that, closed without a word): idle keep-alives and
// floods of probes cannot take the descriptors SMTP needs.
type limitListener struct {
	net.Listener
	slots    chan struct{}
	refusing chan struct{}
	refused  prometheus.Counter
}

func newLimitListener(ln net.Listener, max int, refused prometheus.Counter) *limitListener {
	return &limitListener{Listener: ln, slots: make(chan struct{}, max), refusing: make(chan struct{}, 16), refused: refused}
}

const httpBusy = "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: text/plain\r\n" +
	"Content-Length: 21\r\n\r\ntoo many connections\n"

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		select {
		case l.slots <- struct{}{}:
			return &slotConn{Conn: c, release: func() { <-l.slots }}, nil
		default:
		}
		l.refused.Inc()
		select {
		case l.refusing <- struct{}{}:
			go func() {
				defer func() { <-l.refusing }()
				c.SetDeadline(time.Now().Add(2 * time.Second))
				io.WriteString(c, httpBusy)
				c.Close()
			}()
		default:
			c.Close()
		}
	}
}

// slotConn gives its slot back when closed.
type slotConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *slotConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}
