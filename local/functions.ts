import { definition as auth } from '../functions/auth/routes.ts';
import { definition as docs } from '../functions/docs/routes.ts';
import { definition as health } from '../functions/health/routes.ts';
import { definition as items } from '../functions/items/routes.ts';
import { definition as users } from '../functions/users/routes.ts';
import type { FunctionDefinition } from '../shared/http/app.ts';

/** Every function, served together by `npm start`. A test checks this matches the folders in functions/. */
export const allFunctions: FunctionDefinition[] = [auth, users, items, health, docs];
