"""CLAIR client against a local fake OpenAI-compatible server (no network)."""
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sama_mm.evaluation.functional.clair import (ClairConfigError, ClairJudge, MalformedAnswer, build_prompt,
                                                 parse_answer, summarize)


class FakeServer:
    """Answers POST /v1/chat/completions from a script of (kind, value) steps; records every request."""

    def __init__(self):
        self.script = []
        self.requests = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
                server.requests.append({'path': self.path, 'body': body,
                                        'auth': self.headers.get('Authorization')})
                kind, value = server.script.pop(0) if server.script else ('answer', '{"score": 50}')
                if kind == 'sleep':
                    time.sleep(value)
                    kind, value = 'answer', '{"score": 10, "reason": "late"}'
                if kind == 'status':
                    self.send_response(value)
                    self.end_headers()
                    self.wfile.write(b'{"error": "busy"}')
                    return
                payload = {'choices': [{'message': {'role': 'assistant', 'content': value}}]}
                data = json.dumps(payload).encode()
                self.send_response(200)
                self.send_header('Content-Type', 'application/json')
                self.send_header('Content-Length', str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f'http://127.0.0.1:{self.httpd.server_address[1]}/v1'
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    srv = FakeServer()
    yield srv
    srv.close()


def judge(server, tmp_path, **kw):
    sleeps = []
    kw.setdefault('api_key_env', None)
    j = ClairJudge(server.url, model='judge-1', cache_dir=str(tmp_path / 'cache'), sleep=sleeps.append, **kw)
    return j, sleeps


def test_success_request_shape_and_cache(server, tmp_path, monkeypatch):
    monkeypatch.setenv('SAMA_TEST_KEY', 'sk-test')
    server.script = [('answer', '```json\n{"score": 85, "reason": "same dog"}\n```')]
    j, _ = judge(server, tmp_path, api_key_env='SAMA_TEST_KEY')
    res = j(['a dog runs'], ['a dog is running across the lawn'])
    assert res.ok and res.score == pytest.approx(0.85) and res.reason == 'same dog' and res.attempts == 1
    req = server.requests[0]
    assert req['path'] == '/v1/chat/completions' and req['auth'] == 'Bearer sk-test'
    body = req['body']
    assert body['model'] == 'judge-1' and body['temperature'] == 0.0
    assert 'video' in body['messages'][1]['content'] and 'image' not in body['messages'][1]['content']
    assert '- a dog runs' in body['messages'][1]['content']
    # Second call: served from the cache, no request.
    again = j(['a dog runs'], ['a dog is running across the lawn'])
    assert again.cached and again.score == pytest.approx(0.85) and again.attempts == 0
    assert len(server.requests) == 1
    # A new judge object with the same cache folder also makes no request; another model does.
    j2, _ = judge(server, tmp_path)
    assert j2('a dog runs', 'a dog is running across the lawn').cached and len(server.requests) == 1
    other = ClairJudge(server.url, model='judge-2', api_key_env=None, cache_dir=str(tmp_path / 'cache'))
    assert not other('a dog runs', 'a dog is running across the lawn').cached and len(server.requests) == 2


def test_malformed_then_retry_success(server, tmp_path):
    server.script = [('answer', 'I think it is about 70.'), ('status', 503),
                     ('answer', 'Sure! {"score": "70", "reason": "close"} Hope this helps.')]
    j, sleeps = judge(server, tmp_path, backoff=0.5)
    res = j('a cat', 'a kitten')
    assert res.ok and res.score == pytest.approx(0.7) and res.attempts == 3
    assert sleeps == [0.5, 1.0] and len(server.requests) == 3


def test_all_malformed_is_a_recorded_failure_not_zero(server, tmp_path):
    server.script = [('answer', 'no idea'), ('answer', '{"score": 250}'), ('answer', '{"reason": "x"}')]
    j, _ = judge(server, tmp_path)
    res = j('a cat', 'a kitten')
    assert not res.ok and res.score is None and res.attempts == 3 and 'malformed' in res.error
    # Failures are not cached: a rerun asks again.
    server.script = [('answer', '{"score": 40, "reason": "ok"}')]
    assert j('a cat', 'a kitten').score == pytest.approx(0.4)
    summary = summarize([res, j('a cat', 'a kitten')])
    assert summary == {'CLAIR': pytest.approx(0.4), 'CLAIR_judged': 1, 'CLAIR_failures': 1}


def test_timeout_then_success(server, tmp_path):
    # The first request outlasts the client timeout by far; the second is answered at once. A client timeout of
    # seconds (not a fraction of one) keeps a loaded machine from timing out the second request too.
    server.script = [('sleep', 6.0), ('answer', '{"score": 90, "reason": "fast"}')]
    j, sleeps = judge(server, tmp_path, timeout=2.0)
    res = j('a bird flies', 'a bird is flying')
    assert res.ok and res.score == pytest.approx(0.9) and res.attempts == 2 and len(sleeps) == 1


def test_client_error_is_not_retried(server, tmp_path):
    server.script = [('status', 401)]
    j, sleeps = judge(server, tmp_path)
    res = j('a', 'b')
    assert not res.ok and 'HTTP 401' in res.error and res.attempts == 1 and sleeps == []


def test_unreachable_server_fails_after_retries(tmp_path):
    j = ClairJudge('http://127.0.0.1:9/v1', model='m', api_key_env=None, timeout=0.5, max_attempts=2,
                   cache_dir=None, sleep=lambda s: None)
    res = j('a', 'b')
    assert not res.ok and res.attempts == 2


def test_answers_are_cached_by_default(monkeypatch, tmp_path):
    monkeypatch.setenv('HOME', str(tmp_path))
    assert ClairJudge('http://127.0.0.1:9/v1', model='m').cache_dir == str(tmp_path / '.cache/sama_mm/clair')
    assert ClairJudge('http://127.0.0.1:9/v1', model='m', cache_dir=None).cache_dir is None


def test_missing_key_variable(server, tmp_path, monkeypatch):
    monkeypatch.delenv('SAMA_MISSING_KEY', raising=False)
    j, _ = judge(server, tmp_path, api_key_env='SAMA_MISSING_KEY')
    with pytest.raises(ClairConfigError, match='SAMA_MISSING_KEY'):
        j('a', 'b')


def test_parse_answer():
    assert parse_answer('{"score": 12.5, "reason": "r"}') == {'score': 12.5, 'reason': 'r'}
    assert parse_answer('x {"a": 1} then {"score": 3}')['score'] == 3
    for bad in ['', 'score: 50', '{"score": true}', '{"score": -1}', '{"score": "high"}']:
        with pytest.raises(MalformedAnswer):
            parse_answer(bad)
    assert build_prompt(['c1', 'c2'], ['r1']).count('\n- ') == 3
