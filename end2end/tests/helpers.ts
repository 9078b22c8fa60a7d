import { expect, Page } from '@playwright/test';

// The demo provider's admin, seeded and printed by demo mode.
export const DEMO_EMAIL = 'admin@demo.local';
export const DEMO_PASSWORD = 'demo-sgp-1234';
// Created by playwright.config.ts before the server starts.
export const SUPERADMIN_EMAIL = 'raiz@e2e.local';
export const SUPERADMIN_PASSWORD = 'raiz-e2e-senha-1234';

export async function hydrated(page: Page) {
  // hydrate() marks <body> once the WASM bundle has taken over the page
  await expect(page.locator('body')).toHaveAttribute('data-hydrated', 'true');
}

// Logs in through the login page, which sends the admin on to `next`.
export async function login(page: Page, next = '/', email = DEMO_EMAIL, password = DEMO_PASSWORD) {
  await page.goto(`/login?next=${encodeURIComponent(next)}`);
  await hydrated(page);
  await page.getByLabel('E-mail').fill(email);
  await page.getByLabel('Senha').fill(password);
  await page.getByRole('button', { name: 'Entrar' }).click();
  await expect(page).toHaveURL(next);
  await hydrated(page);
}
