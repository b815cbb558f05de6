// An example qoo10hook webhook receiver in Node.js: it verifies each
// delivery's signature on the raw body (npm package standardwebhooks),
// answers at once, drops deliveries it has seen (same webhook-id), and
// processes the rest after answering.
//
//   npm ci && QOO10HOOK_WEBHOOK_SECRET=whsec_… node receiver.mjs
//
// It listens on 127.0.0.1:$PORT (default 9000) and prints one line per
// event it processes.
import http from 'node:http';
import { Webhook } from 'standardwebhooks';

const wh = new Webhook(process.env.QOO10HOOK_WEBHOOK_SECRET || '');
const port = Number(process.env.PORT || 9000);

// The webhook-ids already taken. A real receiver keeps them where it
// keeps the orders: qoo10hook delivers at least once, and sends an event
// again when asked to.
const seen = new Set();
const work = [];

// process is where the receiver's own work goes: store the order,
// reserve stock, print a label.
function processEvent(ev) {
  const orders = (ev.data.items || []).map((it) => it.order_no);
  console.log(`processed ${ev.id} ${ev.type} seller ${ev.data.seller_id} cart ${ev.data.pack_no} orders [${orders.join(' ')}]`);
}

function drain() {
  while (work.length) processEvent(work.shift());
}

const server = http.createServer((req, res) => {
  if (req.method !== 'POST') {
    res.writeHead(405).end();
    return;
  }
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size > 1 << 20) req.destroy();
    else chunks.push(c);
  });
  req.on('end', () => {
    // The signature covers the exact bytes sent: verify them before any
    // decoding (verify parses the JSON once it holds).
    const body = Buffer.concat(chunks).toString('utf8');
    let ev;
    try {
      ev = wh.verify(body, req.headers);
    } catch {
      res.writeHead(401).end('bad signature');
      return;
    }
    const id = req.headers['webhook-id'];
    if (seen.has(id)) {
      console.log(`duplicate ${id}`);
      res.writeHead(200).end();
      return;
    }
    seen.add(id);
    // Answer now; the work happens after (qoo10hook waits at most
    // delivery.timeout, and retries what it does not see answered).
    work.push(ev);
    res.writeHead(204).end();
    setImmediate(drain);
  });
});
server.listen(port, '127.0.0.1', () => console.error(`receiving webhooks on http://127.0.0.1:${port}/`));
