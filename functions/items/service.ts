import { createHash } from 'node:crypto';
import { type CurrentUser, canAccess } from '../../shared/auth/current-user.ts';
import { cacheKeys } from '../../shared/cache/keys.ts';
import type { PageWindow } from '../../shared/db/keyset.ts';
import type { ItemRow } from '../../shared/db/schema.ts';
import { eventPublisher } from '../../shared/events/index.ts';
import type { AppContext } from '../../shared/http/context.ts';
import { conflict, notFound, unauthorized, unprocessable } from '../../shared/http/errors.ts';
import { type Page, type Pagination, paginate } from '../../shared/http/pagination.ts';
import * as repo from './repository.ts';

/**
 * The items' business rules, in the seed's order: the route has validated; here the rules apply (who may see
 * and change what), the repository saves, the event is published (written to the outbox in the same
 * transaction, delivered after commit), and the caller gets the item.
 */

export interface Item {
  id: string;
  title: string;
  description: string | null;
  owner_id: string;
  is_active: boolean;
  created_at: string;
  updated_at: string;
}

export interface NewItem {
  title: string;
  description?: string | null;
}

export type ItemChanges = repo.ItemFieldChanges;

const EVENT_SOURCE = '/api/items';
const eventType = (change: 'created' | 'updated' | 'deleted') => `com.example.items.${change}`;
/** Short: a cached item is at most this stale for a change that slipped past the invalidation. */
const ITEM_CACHE_SECONDS = 30;
export const IDEMPOTENCY_TTL_HOURS = 24;

const itemNotFound = () => notFound('Item not found.');

export function toItem(row: ItemRow): Item {
  return {
    id: row.id,
    title: row.title,
    description: row.description,
    owner_id: row.owner_id,
    is_active: row.is_active,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/** Whose items a statement may touch: the caller's own, or (a superuser) everyone's. */
const scopeOf = (user: CurrentUser) => (user.is_superuser ? undefined : user.id);

export type ItemListQuery = Pagination & repo.ItemFilters;

/**
 * The caller's items (a superuser's: everyone's), newest first. A cursor is bound to the caller and to what
 * they may see, so it stops working for a superuser who is demoted mid-walk.
 */
export async function listItems(
  ctx: AppContext,
  user: CurrentUser,
  { q, is_active, ...query }: ItemListQuery,
): Promise<Page<Item>> {
  const owner = scopeOf(user);
  const filters = { q, is_active };
  return paginate(
    {
      secret: ctx.config.auth.secretKey,
      binding: { list: 'items', caller: `${owner === undefined ? 'all' : 'own'}:${user.id}`, filters },
      query,
    },
    (window: PageWindow) => repo.listItems(ctx.db, owner, filters, window),
    toItem,
  );
}

export async function getItem(ctx: AppContext, user: CurrentUser, id: string): Promise<Item> {
  let item = await ctx.cache.get<Item>(cacheKeys.item(id));
  if (!item) {
    const row = await repo.findItem(ctx.db, id);
    if (!row) throw itemNotFound();
    item = toItem(row);
    await ctx.cache.set(cacheKeys.item(id), item, ITEM_CACHE_SECONDS);
  }
  // Checked after the cache: a cached item is shared by everyone who reads it, its owner is not.
  if (!canAccess(user, item.owner_id)) throw itemNotFound();
  return item;
}

/** The body in one canonical form: key order and a missing vs. null description do not make it "another body". */
function requestHash(input: NewItem): string {
  return createHash('sha256')
    .update(JSON.stringify([input.title, input.description ?? null]))
    .digest('hex');
}

export interface Created {
  item: Item;
  /** True when this is the stored answer to an earlier request with the same Idempotency-Key. */
  replayed: boolean;
}

/**
 * The caller was deleted after their token was checked (another instance's in-process cache may still hold
 * them for a minute): the item's or the key's foreign key to the user fails. That is the 401 a deleted
 * user's token gets, not a 500.
 */
function ownerGone(error: unknown): boolean {
  return (error as { code?: unknown } | undefined)?.code === '23503';
}

export async function createItem(
  ctx: AppContext,
  user: CurrentUser,
  input: NewItem,
  idempotencyKey: string | undefined,
): Promise<Created> {
  const events = eventPublisher(ctx);
  const hash = idempotencyKey === undefined ? undefined : requestHash(input);
  const created = await ctx.db
    .transaction()
    .execute(async (trx): Promise<Created> => {
      if (idempotencyKey !== undefined && hash !== undefined) {
        const ours = await repo.claimIdempotencyKey(
          trx,
          user.id,
          idempotencyKey,
          hash,
          IDEMPOTENCY_TTL_HOURS,
        );
        if (!ours) return replay(await repo.findIdempotencyKey(trx, user.id, idempotencyKey), hash);
      }
      const item = toItem(
        await repo.insertItem(trx, {
          title: input.title,
          description: input.description ?? null,
          owner_id: user.id,
        }),
      );
      await events.record(trx, {
        type: eventType('created'),
        source: EVENT_SOURCE,
        subject: item.id,
        data: item,
      });
      if (idempotencyKey !== undefined)
        await repo.saveIdempotentResponse(trx, user.id, idempotencyKey, 201, item);
      return { item, replayed: false };
    })
    .catch((error: unknown) => {
      throw ownerGone(error) ? unauthorized('The token is invalid: its user no longer exists.', true) : error;
    });
  if (!created.replayed) events.afterCommit();
  return created;
}

function replay(stored: Awaited<ReturnType<typeof repo.findIdempotencyKey>>, hash: string): Created {
  // A claimed key always has its response by the time its transaction commits; anything else is a key that
  // vanished between the two statements (its user was deleted): ask the client to retry.
  if (!stored || stored.response_body === null) {
    throw conflict('A request with this Idempotency-Key is being processed; retry shortly.');
  }
  if (stored.request_hash !== hash) {
    throw unprocessable('This Idempotency-Key was already used with a different request body.', [
      { path: 'header.idempotency-key', message: 'was already used with a different request body' },
    ]);
  }
  return { item: stored.response_body as Item, replayed: true };
}

export async function updateItem(
  ctx: AppContext,
  user: CurrentUser,
  id: string,
  changes: ItemChanges,
): Promise<Item> {
  const events = eventPublisher(ctx);
  const item = await ctx.db.transaction().execute(async (trx) => {
    const row = await repo.updateItem(trx, id, scopeOf(user), changes);
    if (!row) throw itemNotFound();
    const updated = toItem(row);
    await events.record(trx, {
      type: eventType('updated'),
      source: EVENT_SOURCE,
      subject: id,
      data: updated,
    });
    return updated;
  });
  // After commit: dropped earlier, a concurrent read could cache the old row again.
  await ctx.cache.delete(cacheKeys.item(id));
  events.afterCommit();
  return item;
}

export async function deleteItem(ctx: AppContext, user: CurrentUser, id: string): Promise<void> {
  const events = eventPublisher(ctx);
  await ctx.db.transaction().execute(async (trx) => {
    const row = await repo.deleteItem(trx, id, scopeOf(user));
    if (!row) throw itemNotFound();
    await events.record(trx, {
      type: eventType('deleted'),
      source: EVENT_SOURCE,
      subject: id,
      data: toItem(row),
    });
  });
  await ctx.cache.delete(cacheKeys.item(id));
  events.afterCommit();
}
