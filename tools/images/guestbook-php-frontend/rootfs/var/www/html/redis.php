<?php
// A minimal Redis client (RESP over a TCP socket): enough for the guestbook.

declare(strict_types=1);

final class RedisError extends RuntimeException {}

/** Where the `master` or `slave` Redis is: from Service environment variables
 *  when GET_HOSTS_FROM=env (as Kubernetes sets them), else by Service name. */
function redis_endpoint(string $role): array
{
    $service = $role === 'master' ? 'REDIS_MASTER' : 'REDIS_SLAVE';
    if (getenv('GET_HOSTS_FROM') === 'env') {
        $host = getenv("{$service}_SERVICE_HOST");
        if ($host === false || $host === '') {
            throw new RedisError("GET_HOSTS_FROM=env, but {$service}_SERVICE_HOST is not set "
                . "(create the redis-{$role} Service before the frontend pods)");
        }
        $port = getenv("{$service}_SERVICE_PORT") ?: '6379';
        return [$host, (int) $port];
    }
    return [$role === 'master' ? 'redis-master' : 'redis-slave', 6379];
}

/** Send one command, return its reply (string, int, array or null). */
function redis_call(string $role, string ...$args)
{
    [$host, $port] = redis_endpoint($role);
    $sock = @fsockopen($host, $port, $errno, $errstr, 3.0);
    if ($sock === false) {
        throw new RedisError("cannot reach redis-{$role} at {$host}:{$port}: {$errstr}");
    }
    stream_set_timeout($sock, 3);
    $request = '*' . count($args) . "\r\n";
    foreach ($args as $arg) {
        $request .= '$' . strlen($arg) . "\r\n" . $arg . "\r\n";
    }
    fwrite($sock, $request);
    try {
        return redis_read_reply($sock);
    } finally {
        fclose($sock);
    }
}

function redis_read_reply($sock)
{
    $line = fgets($sock);
    if ($line === false) {
        throw new RedisError('redis closed the connection');
    }
    $payload = substr($line, 1, -2);
    switch ($line[0]) {
        case '+':
            return $payload;
        case '-':
            throw new RedisError("redis: {$payload}");
        case ':':
            return (int) $payload;
        case '$':
            $length = (int) $payload;
            if ($length < 0) {
                return null;
            }
            $data = '';
            while (strlen($data) < $length + 2) {
                $chunk = fread($sock, $length + 2 - strlen($data));
                if ($chunk === false || $chunk === '') {
                    throw new RedisError('redis reply ended early');
                }
                $data .= $chunk;
            }
            return substr($data, 0, $length);
        case '*':
            $count = (int) $payload;
            $items = [];
            for ($i = 0; $i < $count; $i++) {
                $items[] = redis_read_reply($sock);
            }
            return $count < 0 ? null : $items;
    }
    throw new RedisError('unexpected redis reply: ' . trim($line));
}
