"""CLAIR: an LLM judge that scores how well candidate descriptions match reference descriptions.

The judge is any OpenAI-compatible ``/chat/completions`` endpoint (a hosted API or a local server). Only the
standard library is used (``urllib.request``). The judge is optional: no other metric needs it.

Deliberate differences from the official ``clair.py`` (reference §6 item 29):

* the prompt (our own wording) asks about a *video* region or description, not an "image";
* the configured ``model`` is actually sent (the official client ignores its argument) and the temperature
  defaults to 0 (the official client uses 0.5), so reruns are reproducible;
* the answer must contain a JSON object with a numeric ``score`` in ``[0, 100]``; there is no fallback to "the
  first number in the reply". A malformed answer is retried; when every attempt fails the result is a
  *recorded failure*: :attr:`ClairResult.score` is ``None`` and :attr:`ClairResult.error` says why. Callers
  exclude failures from the mean and report their number (the official code silently scores them 0);
* successful judgements are cached on disk, keyed by a SHA-256 of (model, prompt), so a rerun costs nothing.
"""
import hashlib
import json
import os
import os.path as osp
import socket
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

#: Where judge answers are kept unless a config says otherwise (``cache_dir``).
DEFAULT_CLAIR_CACHE = '~/.cache/sama_mm/clair'

SYSTEM_PROMPT = 'You are a careful evaluator of video descriptions. You answer with JSON only.'

PROMPT_TEMPLATE = (
    'Two sets of descriptions are given below. Each was written about a region (an object and what it does) '
    'in a video.\n\n'
    'Candidate descriptions:\n{candidates}\n\n'
    'Reference descriptions:\n{references}\n\n'
    'On a scale from 0 to 100, how likely is it that the candidate descriptions describe the same video '
    'region, with the same appearance and actions over time, as the reference descriptions? Answer with one '
    'JSON object and nothing else: {{"score": <number from 0 to 100>, "reason": "<one short sentence>"}}.')


class ClairConfigError(RuntimeError):
    """The judge is misconfigured (e.g. the API key variable is not set)."""


class MalformedAnswer(ValueError):
    """The judge's answer holds no usable ``{"score": .., "reason": ..}`` object."""


@dataclass
class ClairResult:
    """The outcome of one judgement.

    Attributes:
        score: The score in ``[0, 1]`` (the judge's 0..100 divided by 100), or ``None`` when every attempt
            failed (a recorded failure; it must not be averaged as 0).
        reason: The judge's explanation ('' on failure).
        error: Why the judgement failed (None on success).
        attempts: Requests made (0 when served from the cache).
        cached: Whether the result came from the on-disk cache.
    """
    score: Optional[float]
    reason: str = ''
    error: Optional[str] = None
    attempts: int = 0
    cached: bool = False

    @property
    def ok(self) -> bool:
        return self.score is not None


def build_prompt(candidates: Sequence[str], references: Sequence[str]) -> str:
    """The user prompt for one judgement (candidates and references as ``- text`` lines)."""
    def lines(texts):
        return '\n'.join(f'- {t}' for t in texts)
    return PROMPT_TEMPLATE.format(candidates=lines(candidates), references=lines(references))


def parse_answer(text: str) -> dict:
    """Extract ``{"score": float in [0, 100], "reason": str}`` from a judge's reply.

    Accepts a bare JSON object, one inside a Markdown code fence or surrounded by prose: the first JSON object
    in the text that has a ``score`` key is used. The score may be a number or a numeric string.

    Raises:
        MalformedAnswer: If no such object exists or the score is not a number in ``[0, 100]``.
    """
    if not isinstance(text, str) or not text.strip():
        raise MalformedAnswer('empty answer')
    decoder = json.JSONDecoder()
    found = None
    pos = text.find('{')
    while pos != -1:
        try:
            obj, _ = decoder.raw_decode(text, pos)
        except json.JSONDecodeError:
            obj = None
        if isinstance(obj, dict) and 'score' in obj:
            found = obj
            break
        pos = text.find('{', pos + 1)
    if found is None:
        raise MalformedAnswer(f'no JSON object with a "score" key in {text[:200]!r}')
    raw = found['score']
    try:
        if isinstance(raw, bool):
            raise TypeError
        score = float(raw)
    except (TypeError, ValueError):
        raise MalformedAnswer(f'score {raw!r} is not a number') from None
    if not 0.0 <= score <= 100.0:
        raise MalformedAnswer(f'score {score} outside [0, 100]')
    reason = found.get('reason', '')
    return {'score': score, 'reason': reason if isinstance(reason, str) else json.dumps(reason)}


class _Retryable(Exception):
    pass


class ClairJudge:
    """Client for an OpenAI-compatible chat-completions endpoint that returns CLAIR scores.

    Args:
        base_url: Endpoint root, e.g. ``https://api.openai.com/v1`` or ``http://127.0.0.1:8000/v1``;
            ``/chat/completions`` is appended.
        model: Model name sent with every request (and part of the cache key).
        api_key_env: Name of the environment variable holding the API key (the key itself is never a config
            value). ``None`` sends no ``Authorization`` header (local servers).
        temperature: Sampling temperature (0: reproducible).
        max_tokens: Answer token limit.
        timeout: Seconds per request.
        max_attempts: Requests per judgement before it is recorded as failed.
        backoff: Seconds to wait after the first failed attempt; doubled after each further one.
        cache_dir: Folder of the on-disk answer cache, so that a rerun asks the judge nothing it answered before
            (keyed by model and prompt). Defaults to ``~/.cache/sama_mm/clair``; ``None`` turns caching off.
        sleep: The sleep function (tests pass a no-op).
    """

    def __init__(self, base_url: str, model: str, api_key_env: Optional[str] = 'OPENAI_API_KEY',
                 temperature: float = 0.0, max_tokens: int = 200, timeout: float = 60.0, max_attempts: int = 3,
                 backoff: float = 2.0, cache_dir: Optional[str] = DEFAULT_CLAIR_CACHE,
                 sleep: Callable[[float], None] = time.sleep):
        if max_attempts < 1:
            raise ValueError('max_attempts must be at least 1')
        self.url = base_url.rstrip('/') + '/chat/completions'
        self.model = model
        self.api_key_env = api_key_env
        self.temperature = temperature
        self.max_tokens = max_tokens
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.cache_dir = osp.expanduser(cache_dir) if cache_dir else None
        self.sleep = sleep

    # -- cache ---------------------------------------------------------------------------------------------
    def cache_key(self, prompt: str) -> str:
        """SHA-256 hex digest of (model, prompt)."""
        return hashlib.sha256(json.dumps([self.model, prompt]).encode('utf-8')).hexdigest()

    def _cache_path(self, prompt: str) -> Optional[str]:
        return osp.join(self.cache_dir, self.cache_key(prompt) + '.json') if self.cache_dir else None

    def _cache_get(self, prompt: str) -> Optional[ClairResult]:
        path = self._cache_path(prompt)
        if path is None or not osp.isfile(path):
            return None
        try:
            with open(path, encoding='utf-8') as f:
                data = json.load(f)
            return ClairResult(score=float(data['score']), reason=str(data.get('reason', '')), cached=True)
        except (OSError, ValueError, KeyError, TypeError):
            return None  # a damaged entry is ignored and overwritten

    def _cache_put(self, prompt: str, result: ClairResult):
        path = self._cache_path(prompt)
        if path is None:
            return
        os.makedirs(self.cache_dir, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.cache_dir, suffix='.tmp')
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            json.dump({'model': self.model, 'score': result.score, 'reason': result.reason}, f)
        os.replace(tmp, path)

    # -- requests ------------------------------------------------------------------------------------------
    def _headers(self) -> dict:
        headers = {'Content-Type': 'application/json'}
        if self.api_key_env:
            key = os.environ.get(self.api_key_env)
            if not key:
                raise ClairConfigError(f'environment variable {self.api_key_env} (CLAIR API key) is not set; set '
                                       'it, or set api_key_env=None for a server without authentication')
            headers['Authorization'] = f'Bearer {key}'
        return headers

    def _request(self, prompt: str, headers: dict) -> dict:
        body = json.dumps({
            'model': self.model, 'temperature': self.temperature, 'max_tokens': self.max_tokens,
            'messages': [{'role': 'system', 'content': SYSTEM_PROMPT}, {'role': 'user', 'content': prompt}],
        }).encode('utf-8')
        req = urllib.request.Request(self.url, data=body, headers=headers, method='POST')
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                payload = resp.read().decode('utf-8', errors='replace')
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode('utf-8', errors='replace')[:300]
            if exc.code == 429 or exc.code >= 500:
                raise _Retryable(f'HTTP {exc.code}: {detail}') from None
            raise RuntimeError(f'HTTP {exc.code}: {detail}') from None
        except (urllib.error.URLError, socket.timeout, TimeoutError, ConnectionError) as exc:
            reason = getattr(exc, 'reason', exc)
            raise _Retryable(f'request failed: {reason}') from None
        try:
            content = json.loads(payload)['choices'][0]['message']['content']
        except (ValueError, KeyError, IndexError, TypeError):
            raise _Retryable(f'not a chat-completions response: {payload[:200]!r}') from None
        try:
            return parse_answer(content)
        except MalformedAnswer as exc:
            raise _Retryable(f'malformed answer: {exc}') from None

    def judge_prompt(self, prompt: str) -> ClairResult:
        """Judge a ready-made prompt (cache first, then up to ``max_attempts`` requests)."""
        cached = self._cache_get(prompt)
        if cached is not None:
            return cached
        headers = self._headers()
        error = None
        for attempt in range(1, self.max_attempts + 1):
            try:
                answer = self._request(prompt, headers)
            except _Retryable as exc:
                error = str(exc)
                if attempt < self.max_attempts:
                    self.sleep(self.backoff * 2 ** (attempt - 1))
                continue
            except RuntimeError as exc:  # a client error (bad key, bad model): retrying will not help
                return ClairResult(score=None, error=str(exc), attempts=attempt)
            result = ClairResult(score=answer['score'] / 100.0, reason=answer['reason'], attempts=attempt)
            self._cache_put(prompt, result)
            return result
        return ClairResult(score=None, error=f'all {self.max_attempts} attempts failed; last: {error}',
                           attempts=self.max_attempts)

    def __call__(self, candidates: Sequence[str], references: Sequence[str]) -> ClairResult:
        """Score candidate descriptions against reference descriptions.

        Args:
            candidates: The predicted description(s).
            references: The ground-truth description(s).

        Returns:
            A :class:`ClairResult`; ``score`` is ``None`` for a recorded failure.
        """
        if isinstance(candidates, str):
            candidates = [candidates]
        if isinstance(references, str):
            references = [references]
        return self.judge_prompt(build_prompt(candidates, references))


def summarize(results: Sequence[ClairResult]) -> dict:
    """Mean CLAIR over the successful judgements and the number of failures.

    Returns:
        ``{'CLAIR': mean score of successful results (None if there are none), 'CLAIR_failures': count,
        'CLAIR_judged': count of successful results}``.
    """
    ok = [r.score for r in results if r.ok]
    return {'CLAIR': sum(ok) / len(ok) if ok else None, 'CLAIR_judged': len(ok),
            'CLAIR_failures': len(results) - len(ok)}


__all__ = ['ClairJudge', 'ClairResult', 'ClairConfigError', 'MalformedAnswer', 'build_prompt', 'parse_answer',
           'summarize']
