<?php
// The guestbook page: messages from redis-slave, a form that writes to redis-master.

declare(strict_types=1);
require __DIR__ . '/redis.php';

const KEY = 'guestbook:messages';

$error = null;
if ($_SERVER['REQUEST_METHOD'] === 'POST') {
    $value = trim((string) ($_POST['message'] ?? ''));
    if ($value !== '') {
        try {
            redis_call('master', 'RPUSH', KEY, $value);
            header('Location: /', true, 303);
            exit;
        } catch (RedisError $e) {
            $error = $e->getMessage();
        }
    }
}
$messages = [];
try {
    $messages = redis_call('slave', 'LRANGE', KEY, '0', '-1') ?? [];
} catch (RedisError $e) {
    $error = $error ?? $e->getMessage();
}
$h = static fn (string $s): string => htmlspecialchars($s, ENT_QUOTES);
?>
<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>Guestbook</title>
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}li{margin:.3em 0}
.meta{color:#666;font-size:.9em}.error{color:#b00}</style></head>
<body>
<h1>Guestbook</h1>
<form method="post"><input name="message" size="40" autofocus> <button>Submit</button></form>
<?php if ($error !== null): ?><p class="error"><?= $h($error) ?></p><?php endif ?>
<ul>
<?php foreach ($messages as $message): ?>  <li><?= $h($message) ?></li>
<?php endforeach ?></ul>
<p class="meta">Served by pod <b><?= $h((string) gethostname()) ?></b>
 to <b><?= $h((string) ($_SERVER['REMOTE_ADDR'] ?? '?')) ?></b></p>
</body>
</html>
