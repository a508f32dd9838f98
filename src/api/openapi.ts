// The OpenAPI 3.1 description of the management API, served at
// /api/openapi.json. The tests check it against the OpenAPI schema and check
// every answer of the running daemon against it, so it cannot drift from
// what app.ts does.

import { ALL_STATES, STATES } from '../store/texts.js';

const ref = (name: string): { $ref: string } => ({ $ref: `#/components/schemas/${name}` });
const nullable = (type: string, extra: Record<string, unknown> = {}): Record<string, unknown> => ({ type: [type, 'null'], ...extra });
const time = { type: 'string', format: 'date-time' };
const jsonBody = (schema: unknown, description: string): Record<string, unknown> => ({
  description,
  content: { 'application/json': { schema } },
});
const error = (description: string): Record<string, unknown> => jsonBody(ref('Error'), description);

const textIdParam = {
  name: 'id',
  in: 'path',
  required: true,
  description: 'in-<n> for an inbound text, out-<n> for an outbound one.',
  schema: { type: 'string', examples: ['out-7'] },
};

const commonErrors = {
  '401': error('A token is configured and the request did not carry it (Authorization: Bearer <token>).'),
  '405': error('The path exists, the method does not; the Allow header lists the methods.'),
};

export const openApiDocument = {
  openapi: '3.1.0',
  info: {
    title: 'websms management API',
    version: '1',
    description:
      'Look at and steer the texts websms stores, send a text from a local program, and check health. ' +
      'Every error is JSON: {"error": {"code": "...", "reason": "..."}} with a stable code. ' +
      'When [api] token is set, every request must carry Authorization: Bearer <token>, except /healthz, /readyz and /metrics from loopback.',
    license: { name: 'MIT', identifier: 'MIT' },
  },
  servers: [{ url: 'http://127.0.0.1:8081', description: 'the default [api] listen address' }],
  security: [{ bearer: [] }, {}],
  paths: {
    '/healthz': {
      get: {
        operationId: 'healthz',
        summary: 'Alive: answers while the process runs',
        tags: ['health'],
        responses: { '200': jsonBody(ref('Health'), 'The process runs.'), ...commonErrors },
      },
    },
    '/readyz': {
      get: {
        operationId: 'readyz',
        summary: 'Ready: the database takes writes, AMI is logged in, FastAGI listens',
        tags: ['health'],
        responses: {
          '200': jsonBody(ref('Ready'), 'Every check passed.'),
          '503': jsonBody(ref('Ready'), 'Some check failed; its value is the reason.'),
          ...commonErrors,
        },
      },
    },
    '/metrics': {
      get: {
        operationId: 'metrics',
        summary: 'Prometheus metrics in the text exposition format',
        tags: ['health'],
        responses: {
          '200': { description: 'The metrics.', content: { 'text/plain': { schema: { type: 'string' } } } },
          ...commonErrors,
        },
      },
    },
    '/api/openapi.json': {
      get: {
        operationId: 'openapi',
        summary: 'This document',
        tags: ['meta'],
        responses: { '200': jsonBody({ type: 'object' }, 'The OpenAPI 3.1 document.'), ...commonErrors },
      },
    },
    '/api/texts': {
      get: {
        operationId: 'listTexts',
        summary: 'List and search texts, newest first, a page at a time',
        tags: ['texts'],
        parameters: [
          { name: 'direction', in: 'query', schema: { type: 'string', enum: ['in', 'out'] } },
          { name: 'state', in: 'query', schema: { type: 'string', enum: [...ALL_STATES] } },
          { name: 'interface', in: 'query', schema: { type: 'string' } },
          { name: 'number', in: 'query', description: 'Matches the sender or the recipient; normalised to E.164 like any number.', schema: { type: 'string' } },
          { name: 'q', in: 'query', description: 'Text to find in bodies (case-insensitive for ASCII letters).', schema: { type: 'string', minLength: 1 } },
          { name: 'since', in: 'query', description: 'Created at or after (ISO 8601).', schema: time },
          { name: 'until', in: 'query', description: 'Created before (ISO 8601).', schema: time },
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 500, default: 50 } },
          { name: 'cursor', in: 'query', description: 'The next value of the previous page.', schema: { type: 'string' } },
        ],
        responses: {
          '200': jsonBody(ref('TextPage'), 'A page of texts; next is null on the last page.'),
          '400': error('A parameter is not understood; the reason names it.'),
          ...commonErrors,
        },
      },
      post: {
        operationId: 'sendText',
        summary: 'Send a text: checked like a phone\'s hand-off, stored, then sent with retries',
        tags: ['texts'],
        requestBody: { required: true, content: { 'application/json': { schema: ref('NewText') } } },
        responses: {
          '201': {
            ...jsonBody(ref('TextEnvelope'), 'Stored (committed to disk) and queued for sending.'),
            headers: { Location: { description: 'The new text, /api/texts/out-<n>.', schema: { type: 'string' } } },
          },
          '400': error('The body is not a JSON object with string fields to and body (and optionally from, interface).'),
          '413': error('The request body is too large.'),
          '415': error('The body is not JSON.'),
          '422': error('The text is refused, as a phone\'s would be: invalid_number, invalid_sender, unknown_interface, empty_body, too_long, charset, too_many_segments.'),
          '503': error('The text could not be stored; nothing was queued.'),
          ...commonErrors,
        },
      },
    },
    '/api/texts/{id}': {
      get: {
        operationId: 'getText',
        summary: 'One text with what happened to it',
        tags: ['texts'],
        parameters: [textIdParam],
        responses: {
          '200': jsonBody(ref('TextWithEvents'), 'The text and its events, oldest first.'),
          '404': error('No such text.'),
          ...commonErrors,
        },
      },
    },
    '/api/texts/{id}/retry': {
      post: {
        operationId: 'retryText',
        summary: 'Queue a text again, due now, with a fresh attempt count',
        description: 'For a failed, expired, undeliverable, cancelled, waiting or queued text. An outbound text goes back to the interface chosen when it was handed off.',
        tags: ['texts'],
        parameters: [textIdParam],
        responses: {
          '200': jsonBody(ref('TextEnvelope'), 'Queued again.'),
          '404': error('No such text.'),
          '409': error('Sent, delivered, being sent right now, or its body was removed by retention.'),
          ...commonErrors,
        },
      },
    },
    '/api/texts/{id}/cancel': {
      post: {
        operationId: 'cancelText',
        summary: 'Cancel a queued or waiting text: it is never sent or delivered',
        tags: ['texts'],
        parameters: [textIdParam],
        responses: {
          '200': jsonBody(ref('TextEnvelope'), 'Cancelled.'),
          '404': error('No such text.'),
          '409': error('The text is not queued or waiting.'),
          ...commonErrors,
        },
      },
    },
    '/api/purge': {
      post: {
        operationId: 'purge',
        summary: 'Delete finished texts last updated before a time, with their events',
        tags: ['texts'],
        requestBody: { required: true, content: { 'application/json': { schema: ref('PurgeRequest') } } },
        responses: {
          '200': jsonBody(ref('PurgeResult'), 'How many texts were deleted.'),
          '400': error('before is missing or not an ISO 8601 time.'),
          '413': error('The request body is too large.'),
          '415': error('The body is not JSON.'),
          ...commonErrors,
        },
      },
    },
    '/api/voicemail': {
      post: {
        operationId: 'takeVoicemail',
        summary: "Store a voicemail e-mail as MiniVM wrote it (websms voicemail-mail); 201 only once committed",
        tags: ['voicemail'],
        requestBody: { required: true, content: { 'message/rfc822': { schema: { type: 'string', format: 'binary' } } } },
        responses: {
          '201': jsonBody(ref('VoicemailTaken'), 'Stored: the recording in MiniVM\'s spool may be deleted.'),
          '400': error('Not an e-mail, or one without a To: address.'),
          '413': error('The e-mail is larger than 20 MiB.'),
          '415': error('The body is not message/rfc822.'),
          ...commonErrors,
        },
      },
    },
    '/api/interfaces': {
      get: {
        operationId: 'listInterfaces',
        summary: 'The configured interfaces with their sending health, and AMI',
        tags: ['interfaces'],
        responses: { '200': jsonBody(ref('Interfaces'), 'Every interface.'), ...commonErrors },
      },
    },
    '/api/email': {
      get: {
        operationId: 'emailStatus',
        summary: 'Texts by e-mail: who gets e-mail, the SMTP server, the outbox, and how replies come in',
        tags: ['email'],
        responses: { '200': jsonBody(ref('EmailStatus'), 'The e-mail state; enabled is false without any [email] user.'), ...commonErrors },
      },
    },
    '/api/providers': {
      get: {
        operationId: 'listProviders',
        summary: 'The provider profiles an interface can use, with the settings each needs',
        tags: ['interfaces'],
        responses: { '200': jsonBody(ref('Providers'), 'Every provider.'), ...commonErrors },
      },
    },
  },
  components: {
    securitySchemes: {
      bearer: { type: 'http', scheme: 'bearer', description: 'The [api] token (or WEBSMS_API_TOKEN).' },
    },
    schemas: {
      VoicemailTaken: {
        type: 'object',
        additionalProperties: false,
        required: ['voicemail'],
        properties: {
          voicemail: {
            type: 'object',
            additionalProperties: false,
            required: ['id', 'recipient', 'recordingSha256', 'recordingBytes', 'state'],
            properties: {
              id: { type: 'integer' },
              recipient: { type: 'string' },
              recordingSha256: { type: ['string', 'null'], description: 'SHA-256 of the attached recording (hex); null when none is attached' },
              recordingBytes: { type: ['integer', 'null'] },
              state: { type: 'string', enum: ['queued', 'sent', 'failed'] },
            },
          },
        },
      },
      Error: {
        type: 'object',
        additionalProperties: false,
        required: ['error'],
        properties: {
          error: {
            type: 'object',
            additionalProperties: false,
            required: ['code', 'reason'],
            properties: {
              code: {
                type: 'string',
                enum: [
                  'bad_request', 'unauthorized', 'not_found', 'method_not_allowed', 'conflict', 'too_large', 'unsupported_media_type',
                  'invalid_number', 'invalid_sender', 'unknown_interface', 'empty_body', 'too_long', 'charset', 'too_many_segments',
                  'unavailable', 'internal',
                ],
              },
              reason: { type: 'string', minLength: 1 },
            },
          },
        },
      },
      EmailStatus: {
        type: 'object',
        additionalProperties: false,
        required: ['email'],
        properties: {
          email: {
            type: 'object',
            additionalProperties: false,
            required: ['enabled', 'users', 'unreachedAfterSeconds', 'copy', 'failures', 'smtp', 'outbox', 'lastError', 'lastSentAt', 'pausedUntil', 'replies', 'recent'],
            properties: {
              enabled: { type: 'boolean', description: 'There is at least one [email] user.' },
              users: {
                type: 'array',
                items: { type: 'object', additionalProperties: false, required: ['number', 'address'], properties: { number: { type: 'string' }, address: { type: 'string' } } },
              },
              unreachedAfterSeconds: nullable('number', { description: 'null: texts no phone took are not e-mailed.' }),
              copy: { enum: ['none', 'received', 'all'] },
              failures: { type: 'boolean' },
              smtp: {
                type: ['object', 'null'],
                additionalProperties: false,
                required: ['host', 'port', 'tls', 'login', 'from'],
                properties: { host: { type: 'string' }, port: { type: 'integer' }, tls: { enum: ['starttls', 'tls', 'none'] }, login: { type: 'boolean' }, from: { type: 'string' } },
              },
              outbox: {
                type: 'object',
                additionalProperties: false,
                required: ['queued', 'sending', 'sent', 'failed', 'oldestQueuedAt'],
                properties: {
                  queued: { type: 'integer' },
                  sending: { type: 'integer' },
                  sent: { type: 'integer' },
                  failed: { type: 'integer' },
                  oldestQueuedAt: nullable('string', { format: 'date-time' }),
                },
              },
              lastError: { oneOf: [{ type: 'null' }, ref('EmailError')] },
              lastSentAt: nullable('string', { format: 'date-time' }),
              pausedUntil: nullable('string', { format: 'date-time', description: 'While the SMTP server cannot be reached: the next attempt.' }),
              replies: {
                type: 'object',
                additionalProperties: false,
                required: ['listener', 'imap'],
                properties: {
                  listener: nullable('string', { description: 'host:port of the loopback SMTP listener, or null.' }),
                  imap: {
                    type: ['object', 'null'],
                    additionalProperties: false,
                    required: ['host', 'mailbox', 'connected', 'lastError', 'lastCheckAt'],
                    properties: {
                      host: { type: 'string' },
                      mailbox: { type: 'string' },
                      connected: { type: 'boolean' },
                      lastError: { oneOf: [{ type: 'null' }, ref('EmailError')] },
                      lastCheckAt: nullable('string', { format: 'date-time' }),
                    },
                  },
                },
              },
              recent: {
                type: 'array',
                description: 'The most recent e-mails, newest first.',
                items: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['id', 'kind', 'ref', 'to', 'state', 'attempts', 'createdAt', 'reason'],
                  properties: {
                    id: { type: 'integer' },
                    kind: { type: 'string' },
                    ref: nullable('string', { description: 'The text it is about: in-<n> or out-<n>.' }),
                    to: { type: 'string' },
                    state: { enum: ['queued', 'sending', 'sent', 'failed'] },
                    attempts: { type: 'integer' },
                    createdAt: time,
                    reason: nullable('string'),
                  },
                },
              },
            },
          },
        },
      },
      EmailError: {
        type: 'object',
        additionalProperties: false,
        required: ['reason', 'at'],
        properties: { reason: { type: 'string' }, at: time },
      },
      Health: {
        type: 'object',
        additionalProperties: false,
        required: ['status'],
        properties: { status: { const: 'ok' } },
      },
      Ready: {
        type: 'object',
        additionalProperties: false,
        required: ['ready', 'checks'],
        properties: {
          ready: { type: 'boolean' },
          checks: {
            type: 'object',
            additionalProperties: false,
            required: ['database', 'ami', 'fastagi'],
            description: '"ok", or the reason the check failed.',
            properties: { database: { type: 'string' }, ami: { type: 'string' }, fastagi: { type: 'string' } },
          },
        },
      },
      Text: {
        type: 'object',
        additionalProperties: false,
        required: ['id', 'direction', 'interface', 'from', 'to', 'body', 'state', 'reason', 'attempts', 'parts', 'providerId', 'createdAt', 'updatedAt', 'nextAttemptAt'],
        properties: {
          id: { type: 'string', pattern: '^(in|out)-[1-9][0-9]*$' },
          direction: { type: 'string', enum: ['in', 'out'] },
          interface: { type: 'string' },
          from: { type: 'string' },
          to: { type: 'string' },
          body: nullable('string', { description: 'null once removed by the retention job.' }),
          state: { type: 'string', enum: [...ALL_STATES] },
          reason: nullable('string', { description: 'The last failure or waiting reason, in words for the person who sent the text (for an outbound failure one of a few sentences, docs/outbound.md); the ITSP\'s own words are in the events.' }),
          attempts: { type: 'integer', minimum: 0 },
          parts: { type: 'integer', minimum: 0, description: 'SIP messages for an inbound text, SMS segments for an outbound one.' },
          providerId: nullable('string'),
          createdAt: time,
          updatedAt: time,
          nextAttemptAt: nullable('string', { format: 'date-time', description: 'null when the text is not waiting for a try.' }),
        },
        allOf: [
          {
            if: { properties: { direction: { const: 'in' } } },
            then: { properties: { state: { enum: [...STATES.in] } } },
            else: { properties: { state: { enum: [...STATES.out] } } },
          },
        ],
      },
      Event: {
        type: 'object',
        additionalProperties: false,
        required: ['at', 'kind', 'detail'],
        properties: {
          at: time,
          kind: {
            type: 'string',
            description: 'attempt, sent, retry, failover, failed, expired, report (delivery report), part_delivered, delivered, waiting, undeliverable, interrupted, retried (by hand), cancelled.',
          },
          detail: nullable('string'),
        },
      },
      TextEnvelope: {
        type: 'object',
        additionalProperties: false,
        required: ['text'],
        properties: { text: ref('Text') },
      },
      TextWithEvents: {
        type: 'object',
        additionalProperties: false,
        required: ['text', 'events'],
        properties: { text: ref('Text'), events: { type: 'array', items: ref('Event') } },
      },
      TextPage: {
        type: 'object',
        additionalProperties: false,
        required: ['texts', 'next'],
        properties: {
          texts: { type: 'array', items: ref('Text') },
          next: nullable('string', { description: 'Pass as cursor for the next page; null on the last one.' }),
        },
      },
      NewText: {
        type: 'object',
        additionalProperties: false,
        required: ['to', 'body'],
        properties: {
          to: { type: 'string', description: 'The number to text, E.164 or national (normalised like a phone\'s).' },
          body: { type: 'string', minLength: 1 },
          from: { type: 'string', description: 'An E.164 number; by default the interface\'s number.' },
          interface: { type: 'string', description: 'By default [general] default_interface.' },
        },
      },
      PurgeRequest: {
        type: 'object',
        additionalProperties: false,
        required: ['before'],
        properties: { before: time },
      },
      PurgeResult: {
        type: 'object',
        additionalProperties: false,
        required: ['removed'],
        properties: { removed: { type: 'integer', minimum: 0 } },
      },
      Interfaces: {
        type: 'object',
        additionalProperties: false,
        required: ['interfaces', 'ami'],
        properties: {
          interfaces: {
            type: 'array',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['name', 'provider', 'sends', 'webhookPath', 'queued', 'circuit', 'lastError', 'lastErrorAt', 'rate'],
              properties: {
                name: { type: 'string' },
                provider: { type: 'string' },
                sends: { type: 'boolean', description: 'Whether it has a send_url.' },
                webhookPath: { type: 'string', description: 'The path ITSP webhooks post to (without the secret token, when there is one).' },
                queued: { type: 'integer', minimum: 0, description: 'Outbound texts queued or being sent through it.' },
                circuit: { type: ['string', 'null'], enum: ['closed', 'open', 'half-open', null], description: 'null when it does not send.' },
                lastError: nullable('string', { description: 'What went wrong with the last failed send attempt, for the administrator: the HTTP status and the ITSP\'s words, or the network or TLS error; configured secrets replaced by (secret).' }),
                lastErrorAt: nullable('string', { format: 'date-time' }),
                rate: {
                  type: 'object',
                  additionalProperties: false,
                  required: ['perSecond', 'perNumber', 'pausedUntil'],
                  properties: {
                    perSecond: { type: 'number', minimum: 0, description: 'Segments per second; 0: no limit.' },
                    perNumber: { type: 'number', minimum: 0, description: 'Segments per second per sending number; 0: no limit.' },
                    pausedUntil: nullable('string', { format: 'date-time', description: 'The ITSP asked to wait (Retry-After) until then.' }),
                  },
                },
              },
            },
          },
          ami: {
            type: 'object',
            additionalProperties: false,
            required: ['connected'],
            properties: { connected: { type: 'boolean' } },
          },
        },
      },
      Providers: {
        type: 'object',
        additionalProperties: false,
        required: ['providers'],
        properties: {
          providers: {
            type: 'array',
            items: {
              type: 'object',
              additionalProperties: false,
              required: ['name', 'description', 'settings'],
              properties: {
                name: { type: 'string', description: 'The value of an interface\'s `provider =` key.' },
                description: { type: 'string' },
                settings: {
                  type: 'array',
                  description: 'What a user of this provider writes in the interface section; everything else is the profile\'s default.',
                  items: {
                    type: 'object',
                    additionalProperties: false,
                    required: ['key', 'doc', 'secret', 'required'],
                    properties: {
                      key: { type: 'string', description: 'The ini key in the interface section.' },
                      doc: { type: 'string', description: 'What to copy from the provider\'s console.' },
                      secret: { type: 'boolean', description: 'Better kept in the environment variable WEBSMS_<INTERFACE>_<KEY>; never shown.' },
                      required: { type: 'boolean' },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
} as const;
