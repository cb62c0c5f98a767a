import type { FunctionDefinition } from '../shared/http/app.ts';
import { definition as auth } from './auth/routes.ts';
import { definition as docs } from './docs/routes.ts';
import { definition as health } from './health/routes.ts';
import { definition as items } from './items/routes.ts';
import { definition as users } from './users/routes.ts';

/**
 * Every function: what `npm start` serves together, what the OpenAPI document describes and what the Istio
 * routes are checked against. A test checks this matches the folders in functions/.
 */
export const allFunctions: FunctionDefinition[] = [auth, users, items, health, docs];
