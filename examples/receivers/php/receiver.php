<?php
// An example qoo10hook webhook receiver in PHP, without libraries.
//
// It verifies each delivery's signature on the raw body (Standard
// Webhooks: HMAC-SHA256 of "{webhook-id}.{webhook-timestamp}.{body}"),
// answers at once, drops deliveries it has seen (same webhook-id), and
// processes the rest after answering.
//
//   QOO10HOOK_WEBHOOK_SECRET=whsec_… php -S 127.0.0.1:9000 receiver.php
//
// Under PHP-FPM, fastcgi_finish_request() ends the response before the
// processing; PHP's built-in server sends it when the script flushes.
// It logs one line per event it processes (standard error).

const TOLERANCE = 300; // seconds a timestamp may be off: replayed deliveries are refused

function verify(string $body, string $secret): bool
{
    $id = $_SERVER['HTTP_WEBHOOK_ID'] ?? '';
    $ts = $_SERVER['HTTP_WEBHOOK_TIMESTAMP'] ?? '';
    $sigs = $_SERVER['HTTP_WEBHOOK_SIGNATURE'] ?? '';
    if (!ctype_digit($ts) || abs(time() - (int)$ts) > TOLERANCE) {
        return false;
    }
    $key = base64_decode(substr($secret, strlen('whsec_')), true);
    $want = base64_encode(hash_hmac('sha256', "$id.$ts.$body", $key, true));
    // The header holds space-separated "v1,<base64>" signatures (several
    // while a secret is rotated): one match is enough.
    foreach (explode(' ', $sigs) as $sig) {
        if (str_starts_with($sig, 'v1,') && hash_equals($want, substr($sig, 3))) {
            return true;
        }
    }
    return false;
}

// firstTime records a webhook-id and tells whether it is new. A file
// created exclusively is atomic across PHP's processes; a real receiver
// keeps the ids where it keeps the orders: qoo10hook delivers at least
// once, and sends an event again when asked to.
function firstTime(string $id): bool
{
    $dir = getenv('SEEN_DIR') ?: sys_get_temp_dir() . '/qoo10hook-seen';
    @mkdir($dir, 0700, true);
    $f = @fopen($dir . '/' . hash('sha256', $id), 'x');
    if ($f === false) {
        return false;
    }
    fclose($f);
    return true;
}

// process is where the receiver's own work goes: store the order,
// reserve stock, print a label.
function process(array $ev): void
{
    $orders = array_map(fn($it) => $it['order_no'] ?? '', $ev['data']['items'] ?? []);
    file_put_contents('php://stderr', sprintf("processed %s %s seller %s cart %s orders [%s]\n",
        $ev['id'], $ev['type'], $ev['data']['seller_id'] ?? '', $ev['data']['pack_no'] ?? '', implode(' ', $orders)));
}

if ($_SERVER['REQUEST_METHOD'] !== 'POST') {
    http_response_code(405);
    exit;
}
// The signature covers the exact bytes sent: verify them before any decoding.
$body = file_get_contents('php://input');
if (!verify($body, getenv('QOO10HOOK_WEBHOOK_SECRET') ?: '')) {
    http_response_code(401);
    exit;
}
$id = $_SERVER['HTTP_WEBHOOK_ID'];
if (!firstTime($id)) {
    file_put_contents('php://stderr', "duplicate $id\n");
    http_response_code(200);
    exit;
}
$ev = json_decode($body, true);

// Answer now; the work happens after (qoo10hook waits at most
// delivery.timeout, and retries what it does not see answered).
ignore_user_abort(true);
http_response_code(204);
header('Content-Length: 0');
header('Connection: close');
if (function_exists('fastcgi_finish_request')) {
    fastcgi_finish_request();
} else {
    flush();
}
process($ev);
