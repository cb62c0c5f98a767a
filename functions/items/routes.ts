import type { FastifyRequest } from 'fastify';
import * as v from 'valibot';
import { requireUser } from '../../shared/auth/current-user.ts';
import { housekeeping } from '../../shared/db/housekeeping.ts';
import { eventPublisher } from '../../shared/events/index.ts';
import { afterFirstResponse } from '../../shared/http/after-first-response.ts';
import type { FunctionDefinition } from '../../shared/http/app.ts';
import { unprocessable } from '../../shared/http/errors.ts';
import { listQuery, pageSchema, queryBoolean } from '../../shared/http/pagination.ts';
import { defineRoute } from '../../shared/http/route.ts';
import { strictBody, text, Uuid, uuidParams } from '../../shared/http/schemas.ts';
import { itemsPurges } from './housekeeping.ts';
import * as items from './service.ts';

const Title = text({ min: 1, max: 255 });
const Description = v.nullable(text({ max: 255, multiline: true }));

// strictBody: an unknown field (owner_id, id, is_superuser...) is a 422, never silently dropped.
const ItemCreate = strictBody({ title: Title, description: v.optional(Description) });
const ItemUpdate = strictBody({
  title: v.optional(Title),
  description: v.optional(Description),
  is_active: v.optional(v.boolean('must be true or false')),
});

const Timestamp = v.pipe(v.string(), v.isoTimestamp());
const Item = v.object({
  id: Uuid,
  title: v.string(),
  description: v.nullable(v.string()),
  owner_id: Uuid,
  is_active: v.boolean(),
  created_at: Timestamp,
  updated_at: Timestamp,
});
const ItemParams = uuidParams('item_id');

/** Printable ASCII, as HTTP header values travel; long enough for any UUID or client-made token. */
const IDEMPOTENCY_KEY = /^[\x20-\x7e]{1,255}$/;

function idempotencyKeyOf(request: FastifyRequest): string | undefined {
  const value = request.headers['idempotency-key'];
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !IDEMPOTENCY_KEY.test(value)) {
    throw unprocessable('Invalid Idempotency-Key header.', [
      { path: 'header.idempotency-key', message: 'must be one value of 1 to 255 printable ASCII characters' },
    ]);
  }
  return value;
}

const ItemListQuery = listQuery({
  q: v.optional(
    v.pipe(
      text({ min: 1, max: 255 }),
      v.description('Only items whose title contains this text, ignoring case.'),
    ),
  ),
  is_active: v.optional(
    v.pipe(queryBoolean(), v.description('Only active (`true`) or inactive (`false`) items.')),
  ),
});

const list = defineRoute({
  method: 'GET',
  url: '/api/items/',
  operationId: 'items_list',
  summary: 'List items',
  description:
    "The caller's items, newest first (ties by id); a superuser sees everyone's. `count` is every matching item, not the page. Follow `next_cursor` (sent as `cursor` with the same `q` and `is_active`) to walk the list: every item that existed when the walk began comes exactly once, whatever is added or removed meanwhile.",
  tags: ['items'],
  auth: requireUser,
  query: ItemListQuery,
  responses: { 200: { description: 'A page of items.', schema: pageSchema(Item) } },
  async handler({ ctx, user, query }) {
    return items.listItems(ctx, user, query);
  },
});

const create = defineRoute({
  method: 'POST',
  url: '/api/items/',
  operationId: 'items_create',
  summary: 'Create an item',
  description:
    'Creates an item owned by the caller. With an `Idempotency-Key`, the same key and body within 24 h answer the first response again (with `Idempotent-Replayed: true`) and create nothing; the same key with another body is a 422.',
  tags: ['items'],
  auth: requireUser,
  body: ItemCreate,
  headers: {
    'Idempotency-Key': {
      description: 'Makes retries safe: a key per intended item, unique per user, kept 24 h.',
    },
  },
  status: 201,
  responses: {
    201: {
      description: 'The item.',
      schema: Item,
      headers: {
        location: { description: 'The URL of the item.', schema: { type: 'string' } },
        'idempotent-replayed': {
          description: '"true" when this is the stored answer to an earlier request.',
          schema: { type: 'string' },
        },
      },
    },
  },
  errors: [409],
  async handler({ ctx, user, body, request, reply }) {
    const key = idempotencyKeyOf(request);
    const { item, replayed } = await items.createItem(ctx, user, body, key);
    reply.header('location', `/api/items/${item.id}`);
    if (replayed) reply.header('idempotent-replayed', 'true');
    return item;
  },
});

const read = defineRoute({
  method: 'GET',
  url: '/api/items/:item_id',
  operationId: 'items_read',
  summary: 'Read an item',
  description: "The owner's or a superuser's; anyone else's answers 404, as if it did not exist.",
  tags: ['items'],
  auth: requireUser,
  params: ItemParams,
  responses: { 200: { description: 'The item.', schema: Item } },
  errors: [404],
  async handler({ ctx, user, params }) {
    return items.getItem(ctx, user, params.item_id);
  },
});

const update = defineRoute({
  method: 'PUT',
  url: '/api/items/:item_id',
  operationId: 'items_update',
  summary: 'Update an item',
  description:
    'Partial: only the fields sent change; `updated_at` moves on every update. Owner or superuser.',
  tags: ['items'],
  auth: requireUser,
  params: ItemParams,
  body: ItemUpdate,
  responses: { 200: { description: 'The updated item.', schema: Item } },
  errors: [404],
  async handler({ ctx, user, params, body }) {
    return items.updateItem(ctx, user, params.item_id, body);
  },
});

const remove = defineRoute({
  method: 'DELETE',
  url: '/api/items/:item_id',
  operationId: 'items_delete',
  summary: 'Delete an item',
  description: 'Owner or superuser.',
  tags: ['items'],
  auth: requireUser,
  params: ItemParams,
  status: 204,
  responses: { 204: { description: 'Deleted.' } },
  errors: [404],
  async handler({ ctx, user, params }) {
    await items.deleteItem(ctx, user, params.item_id);
    return undefined;
  },
});

export const definition: FunctionDefinition = {
  name: 'items',
  prefixes: ['/api/items'],
  routes: [list, create, read, update, remove],
  setup(app, ctx) {
    // Events a previous instance could not deliver go out once this one has answered its first request
    // (a no-op without K_SINK).
    afterFirstResponse(app, () => eventPublisher(ctx).start());
    housekeeping(app, ctx, itemsPurges);
  },
};
