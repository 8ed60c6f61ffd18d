<?php
// JSON API of the guestbook:
//   guestbook.php?cmd=get            messages, read from redis-slave
//   guestbook.php?cmd=set&value=TXT  append a message, written to redis-master
// Every answer also says which pod served it and who asked (the caller's IP as
// this pod sees it: no NAT between nodes means it is the caller's real address).

declare(strict_types=1);
require __DIR__ . '/redis.php';

const KEY = 'guestbook:messages';

header('Content-Type: application/json');
$answer = ['served_by' => gethostname(), 'client_ip' => $_SERVER['REMOTE_ADDR'] ?? null];
try {
    switch ($_GET['cmd'] ?? 'get') {
        case 'set':
            $value = trim((string) ($_GET['value'] ?? $_POST['value'] ?? ''));
            if ($value === '') {
                http_response_code(400);
                $answer['error'] = 'value is empty';
                break;
            }
            $answer['count'] = redis_call('master', 'RPUSH', KEY, $value);
            break;
        case 'get':
            $answer['messages'] = redis_call('slave', 'LRANGE', KEY, '0', '-1') ?? [];
            break;
        default:
            http_response_code(400);
            $answer['error'] = 'cmd must be get or set';
    }
} catch (RedisError $e) {
    http_response_code(503);
    $answer['error'] = $e->getMessage();
}
echo json_encode($answer), "\n";
