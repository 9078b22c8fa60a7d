import { test, expect, Page } from '@playwright/test';
import { hydrated, login } from './helpers';

// Runs after app.spec.ts (files run in name order, one worker): these
// tests import, and the overview test wants an empty database.

const API = '/api/admin/integracoes/sgp/importacoes';

// Queues an import through the REST API with the page's session.
async function queue(page: Page, name: string): Promise<string> {
  const r = await page.request.post(API, { data: { nome_importacao: name } });
  expect(r.status()).toBe(201);
  return (await r.json()).data.id;
}

async function waitStatus(page: Page, id: string, status: RegExp) {
  await expect
    .poll(async () => (await (await page.request.get(`${API}/${id}`)).json()).data.status, { timeout: 60_000 })
    .toMatch(status);
}

test('the integration form shows each field error next to its field', async ({ page }) => {
  await login(page, '/integracoes');
  const url = page.getByLabel('URL do SGP');
  await expect(url).not.toHaveValue('');
  const saved = await url.inputValue();
  await url.fill('ftp://sgp');
  await page.getByRole('button', { name: 'Salvar conexão' }).click();
  await expect(page.locator('#base_url-erro')).toContainText('http');
  // a refused save leaves what the admin typed, next to its error
  await page.waitForTimeout(1_000);
  await expect(url).toHaveValue('ftp://sgp');

  await page.getByLabel('Nome da importação').fill('');
  await page.getByLabel('Cadastro a partir de').fill('2024-05-01');
  await page.getByLabel('Cadastro até').fill('2024-01-01');
  await page.getByRole('button', { name: 'Importar Clientes' }).click();
  // the name is optional; only the dates are wrong
  await expect(page.locator('#nome_importacao-erro')).toHaveCount(0);
  await expect(page.locator('#data_cadastro_fim-erro')).toHaveText('A data final do cadastro é anterior à data inicial.');
  await page.screenshot({ path: 'screenshots/integracoes-erros.png', fullPage: true });

  // another host with the token left blank: the saved token does not
  // follow it, and the form says so next to the token
  await url.fill('https://outro-sgp.example.com.br');
  await page.getByRole('button', { name: 'Salvar conexão' }).click();
  await expect(page.locator('#token-erro')).toContainText('O endereço do SGP mudou');

  // corrected, it saves; the token left blank keeps the saved one (the
  // next test's connection test and import need it)
  await url.fill(saved);
  await page.getByRole('button', { name: 'Salvar conexão' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Conexão salva.' })).toBeVisible();
  await expect(page.locator('#base_url-erro')).toHaveCount(0);
});

test('preview, then an import followed live until it ends and the dashboard takes over', async ({ page }) => {
  await login(page, '/integracoes');
  await page.getByRole('button', { name: 'Testar conexão' }).click();
  await expect(page.getByRole('status').filter({ hasText: 'Conexão com o SGP funcionando' })).toBeVisible();
  await page.getByRole('button', { name: 'Pré-visualizar' }).click();
  await expect(page.getByTestId('previa')).toHaveText('400 clientes seriam importados: 400 novos e 0 já existentes.');

  await page.getByLabel('Nome da importação').fill('Migração inicial');
  await page.getByRole('button', { name: 'Importar Clientes' }).click();
  const bar = page.getByRole('progressbar', { name: 'Progresso de Migração inicial' });
  await expect(bar).toBeVisible();
  await expect(page.getByTestId('contagem')).toContainText('Indo para o painel de importações em');
  await page.screenshot({ path: 'screenshots/integracoes-progresso.png', fullPage: true });
  // progress arrives over server-sent events, without a reload
  await expect(bar).toHaveAttribute('aria-valuenow', '100', { timeout: 30_000 });
  // the hand-over lands on the dashboard with the new import highlighted
  // and its details open, duration and speed included
  await expect(page).toHaveURL(/\/dashboard\/importacoes\/[0-9a-f-]{36}\?destaque=[0-9a-f-]{36}$/, { timeout: 30_000 });
  await expect(page.getByRole('dialog')).toBeVisible();
  await expect(page.locator('[data-stat="velocidade"]')).toContainText('clientes/s');
  await expect(page.locator('[data-stat="duracao"]')).not.toHaveText('—');
  await expect(page.locator('tr.highlight')).toContainText('Migração inicial');
  await page.getByRole('dialog').getByRole('button', { name: 'Atualizar' }).click();
  await expect(page.getByRole('dialog')).toContainText('Concluída');
  await expect(page.getByRole('cell', { name: 'Migração inicial', exact: true })).toBeVisible();
  await expect(page.getByRole('row', { name: /Migração inicial/ })).toContainText('Concluída');

  // the customers are there, searchable
  await page.goto('/clientes');
  await hydrated(page);
  await expect(page.getByTestId('total-clientes')).toHaveText('400 clientes');
  const first = page.locator('.customer-name').first();
  const name = (await first.textContent())!;
  await page.getByLabel('Buscar por nome ou CPF/CNPJ').fill(name);
  await page.getByRole('button', { name: 'Buscar' }).click();
  await expect(page).toHaveURL(/q=/);
  await expect(page.locator('.customer-name').first()).toHaveText(name);
  await page.locator('.customer summary').first().click();
  await expect(page.getByRole('table', { name: 'Contratos' }).first()).toBeVisible();
  await page.getByLabel('Situação do contrato').selectOption('cancelado');
  await page.getByLabel('Buscar por nome ou CPF/CNPJ').fill('');
  await page.getByRole('button', { name: 'Buscar' }).click();
  await expect(page).toHaveURL(/contrato=cancelado/);
  await page.screenshot({ path: 'screenshots/clientes.png', fullPage: true });
  // none has left the demo SGP
  await page.getByLabel('No SGP').selectOption('removido');
  await page.getByRole('button', { name: 'Buscar' }).click();
  await expect(page).toHaveURL(/situacao=removido/);
  await expect(page.getByText('Nenhum cliente encontrado.')).toBeVisible();
});

test('the page hands over to the dashboard after 30 seconds', async ({ page }) => {
  await page.clock.install();
  await login(page, '/integracoes');
  await page.getByLabel('Nome da importação').fill('Passagem');
  await page.getByRole('button', { name: 'Importar Clientes' }).click();
  await expect(page.getByTestId('contagem')).toContainText('30 s');
  await page.clock.runFor(29_000);
  await expect(page.getByTestId('contagem')).toContainText('em 1 s');
  await expect(page).toHaveURL('/integracoes');
  await page.clock.runFor(1_000);
  await expect(page).toHaveURL(/\/dashboard\/importacoes\/[0-9a-f-]{36}\?destaque=/);
});

test('tabs, counts and pages live in the URL; the dashboard refreshes itself', async ({ page }) => {
  await login(page, '/dashboard/importacoes');
  const ids: string[] = [];
  for (let i = 1; i <= 11; i++) {
    ids.push(await queue(page, `Lote ${String(i).padStart(2, '0')}`));
  }
  await page.reload();
  await hydrated(page);
  const tabs = page.getByRole('navigation', { name: 'Situação das importações' });
  await expect(page.getByRole('article', { name: 'Lote 11' })).toBeVisible();
  await expect(tabs.getByRole('link', { name: /Todas/ })).toContainText('13');
  // one finishes while we watch: the page refreshes itself
  const done = tabs.getByRole('link', { name: /Concluídas/ });
  const before = await done.textContent();
  await expect(done).not.toHaveText(before!, { timeout: 30_000 });
  await page.screenshot({ path: 'screenshots/dashboard-importacoes.png', fullPage: true });

  await page.getByRole('navigation', { name: 'Páginas do histórico' }).getByRole('link', { name: 'Próxima →' }).click();
  await expect(page).toHaveURL('/dashboard/importacoes?aba=todas&pagina=2');
  await expect(page.getByText('Página 2 de 2')).toBeVisible();
  await page.reload();
  await hydrated(page);
  await expect(page.getByText('Página 2 de 2')).toBeVisible();
  // a page past the last shows the last one, not an empty list
  await page.goto('/dashboard/importacoes?aba=todas&pagina=9');
  await hydrated(page);
  await expect(page.getByText('Página 2 de 2')).toBeVisible();
  // a header and at least one import
  await expect(page.getByRole('table').getByRole('row').nth(1)).toBeVisible();
  await tabs.getByRole('link', { name: /Concluídas/ }).click();
  await expect(page).toHaveURL('/dashboard/importacoes?aba=concluidas&pagina=1');
  await expect(tabs.getByRole('link', { name: /Concluídas/ })).toHaveAttribute('aria-current', 'page');
  await expect(page.getByRole('table').getByRole('row')).not.toHaveCount(1);
  // the rest are not needed
  for (const id of ids) {
    await page.request.delete(`${API}/${id}`);
  }
});

test('the modal log grows on its own, polling stops when it closes, and cancel works', async ({ page }) => {
  await login(page, '/dashboard/importacoes');
  const id = await queue(page, 'Acompanhada');
  await page.goto(`/dashboard/importacoes/${id}`);
  await hydrated(page);
  const dialog = page.getByRole('dialog', { name: 'Detalhes da importação' });
  await expect(dialog).toBeVisible();
  const lines = dialog.locator('.log-line');
  const before = await lines.count();
  await expect.poll(() => lines.count(), { timeout: 60_000 }).toBeGreaterThan(before);
  await page.screenshot({ path: 'screenshots/modal-importacao.png', fullPage: true });

  // Esc closes; then no more details requests
  let polls = 0;
  page.on('request', (r) => { if (r.url().includes('/api/import_details')) polls++; });
  await page.keyboard.press('Escape');
  await expect(dialog).toBeHidden();
  polls = 0;
  await page.waitForTimeout(6_000);
  expect(polls).toBe(0);

  // cancel a running one, with confirmation
  await waitStatus(page, id, /completed/);
  const other = await queue(page, 'Para cancelar');
  await waitStatus(page, other, /running/);
  await page.goto(`/dashboard/importacoes/${other}`);
  await hydrated(page);
  await expect(dialog.locator('.modal-job')).toContainText('Processando');
  page.once('dialog', (d) => d.accept());
  await dialog.getByRole('button', { name: 'Cancelar' }).click();
  await expect(dialog.locator('.modal-job')).toContainText(/Cancelada|Cancelando/, { timeout: 30_000 });
  await waitStatus(page, other, /cancelled/);
  await page.reload();
  await hydrated(page);
  await expect(dialog.locator('.modal-job')).toContainText('Cancelada');
  // and queue it again
  await dialog.getByRole('button', { name: 'Tentar novamente' }).click();
  await expect(dialog.locator('.modal-job')).toContainText(/Na fila|Processando|Concluída/);

  // the error report downloads as CSV
  const download = page.waitForEvent('download');
  await dialog.getByRole('link', { name: 'Baixar relatório de erros' }).click();
  expect((await download).suggestedFilename()).toBe(`erros-importacao-${other}.csv`);
});

test('a refresh of the modal keeps the tab the admin chose and the focus on it', async ({ page }) => {
  await login(page, '/dashboard/importacoes');
  // one provider's imports run one at a time: the third waits its turn,
  // and the modal refreshes while it does
  const ids = [await queue(page, 'Fila 1'), await queue(page, 'Fila 2'), await queue(page, 'Fila 3')];
  await page.goto(`/dashboard/importacoes/${ids[2]}`);
  await hydrated(page);
  const dialog = page.getByRole('dialog', { name: 'Detalhes da importação' });
  await expect(dialog.locator('.modal-job')).toContainText('Na fila');
  const tab = dialog.getByRole('tab', { name: 'O que mudou' });
  let changesRead = 0;
  page.on('request', (r) => { if (r.url().includes('/api/changes')) changesRead++; });
  await tab.click();
  await expect(tab).toHaveAttribute('aria-selected', 'true');
  await expect(tab).toBeFocused();
  await expect.poll(() => changesRead).toBe(1);
  await page.waitForResponse((r) => r.url().includes('/api/import_details'), { timeout: 15_000 });
  await page.waitForTimeout(1_000);
  await expect(tab).toHaveAttribute('aria-selected', 'true');
  await expect(tab).toBeFocused();
  // the page of changes shown is kept, not read (and shown loading) again
  expect(changesRead).toBe(1);
  // out of the next tests' way (the first may have finished already)
  for (const id of ids.reverse()) await page.request.delete(`${API}/${id}`);
});

test('the live progress says why it stopped following when the session ends', async ({ page }) => {
  await login(page, '/integracoes');
  // queued behind another, the import is still waiting when the session ends
  await queue(page, 'Na frente');
  await page.getByLabel('Nome da importação').fill('Sessão encerrada');
  await page.getByRole('button', { name: 'Importar Clientes' }).click();
  await expect(page.getByRole('progressbar', { name: 'Progresso de Sessão encerrada' })).toBeVisible();
  // the admin logs out in another tab
  const other = await page.context().newPage();
  await other.goto('/integracoes');
  await hydrated(other);
  await other.getByRole('button', { name: 'Sair' }).click();
  await expect(other).toHaveURL(/\/login/);
  await other.close();
  await expect(page.locator('.live').getByRole('alert')).toHaveText('Faça login para continuar.', { timeout: 20_000 });
});

test('the details show what an import changed, as the API counts it', async ({ page }) => {
  await login(page, '/dashboard/importacoes');
  // the oldest completed import brought the customers in
  await waitStatus(page, await queue(page, 'Para comparar'), /completed/);
  const total = (await (await page.request.get(`${API}/lista?status=completed&limit=1`)).json()).data.pagination.total;
  const oldest = (await (await page.request.get(`${API}/lista?status=completed&limit=1&offset=${total - 1}`)).json()).data.importacoes[0].id;
  const changes = (await (await page.request.get(`${API}/${oldest}/alteracoes`)).json()).data;
  const created = changes.contagem.cliente_criado;
  expect(created).toBeGreaterThan(0);

  await page.goto(`/dashboard/importacoes/${oldest}`);
  await hydrated(page);
  const dialog = page.getByRole('dialog', { name: 'Detalhes da importação' });
  // its speed, page by page, drawn on the server
  const speed = dialog.locator('svg[data-chart="grafico-velocidade"] .chart-bar');
  await expect(speed.first()).toHaveAttribute('aria-label', /^Aos \d+:\d\d — clientes\/s: [\d.,]+$/);
  await dialog.getByRole('tab', { name: 'O que mudou' }).click();
  await expect(dialog.getByTestId('resumo-alteracoes')).toHaveText(changes.resumo);
  const chip = dialog.locator('.chip[data-tipo="cliente_criado"]');
  await expect(chip).toContainText('Cliente novo');
  await chip.click();
  await expect(chip).toHaveAttribute('aria-pressed', 'true');
  await expect(dialog.locator('table.changes caption')).toContainText('alterações');
  await expect(dialog.locator('table.changes tbody tr').first()).toHaveAttribute('data-tipo', 'cliente_criado');
  await page.screenshot({ path: 'screenshots/modal-o-que-mudou.png', fullPage: true });
  // back to the details
  await dialog.getByRole('tab', { name: 'Detalhes' }).click();
  await expect(dialog.locator('.log')).toBeVisible();
});

test('the dashboard charts the last 30 days with the numbers the API gives', async ({ page }) => {
  await login(page, '/dashboard/importacoes');
  await waitStatus(page, await queue(page, 'Para o gráfico'), /completed/);
  // nothing else finishes while the chart and the API are compared
  const unfinished = async () => (await (await page.request.get(
    `${API}/lista?status=queued,running,retrying,cancelling&limit=1`)).json()).data.pagination.total;
  await expect.poll(unfinished, { timeout: 90_000 }).toBe(0);
  const jobs = (await (await page.request.get(`${API}/lista?status=all&limit=100`)).json()).data.importacoes;
  await page.reload();
  await hydrated(page);
  const chart = page.locator('svg[data-chart="grafico-importacoes"]');
  await expect(chart).toBeVisible();
  await expect(chart.locator('.chart-bar')).toHaveCount(30);
  const today = chart.locator('.chart-bar').last();
  const label = (await today.getAttribute('data-label'))!;
  // the day of each finished import in Brasília (UTC-3), as the chart counts it
  const day = (iso: string) => {
    const d = new Date(Date.parse(iso) - 3 * 3600 * 1000);
    return `${String(d.getUTCDate()).padStart(2, '0')}/${String(d.getUTCMonth() + 1).padStart(2, '0')}`;
  };
  const todays = jobs.filter((j: any) => j.finalizado_em && day(j.finalizado_em) === label);
  const count = (s: string) => todays.filter((j: any) => j.status === s).length;
  expect(count('completed')).toBeGreaterThan(0);
  await expect(today).toHaveAttribute('aria-label',
    `${label}/${new Date(Date.now() - 3 * 3600 * 1000).getUTCFullYear()} — concluídas: ${count('completed')}, com erro: ${count('failed')}, canceladas: ${count('cancelled')}`);
  const created = todays.reduce((n: number, j: any) => n + j.criados, 0);
  const customers = page.locator('svg[data-chart="grafico-clientes"] .chart-bar').last();
  await expect(customers).toHaveAttribute('aria-label', new RegExp(`novos: ${created.toLocaleString('pt-BR')},`));
  // the numbers show on focus
  await today.focus();
  await expect(today.locator('.chart-tip')).toBeVisible();
  await page.screenshot({ path: 'screenshots/graficos.png', fullPage: true });

  // an import that finishes while the page is open redraws the charts
  // once the list learns of it, without a reload
  await waitStatus(page, await queue(page, 'Mais uma para o gráfico'), /completed/);
  await page.getByRole('button', { name: 'Atualizar', exact: true }).click();
  await expect(today).toHaveAttribute('aria-label', new RegExp(`concluídas: ${count('completed') + 1},`));
});

test('a failed import says why and can be retried once the settings are fixed', async ({ page }) => {
  await login(page, '/dashboard/importacoes');
  const settings = '/api/admin/integracoes/sgp';
  const current = (await (await page.request.get(settings)).json()).data;
  const save = (token: string) =>
    page.request.put(settings, { data: { base_url: current.base_url, auth_mode: 'token', app: current.app, token } });
  expect((await save('token-errado-123456')).status()).toBe(200);
  const id = await queue(page, 'Com token errado');
  await waitStatus(page, id, /failed/);

  await page.goto(`/dashboard/importacoes/${id}?aba=erro&pagina=1`);
  await hydrated(page);
  const dialog = page.getByRole('dialog', { name: 'Detalhes da importação' });
  await expect(dialog.locator('.modal-job')).toContainText('Com erro');
  await expect(dialog.locator('.error-text')).toContainText('credenciais');
  await expect(dialog.locator('.log-error').first()).toBeVisible();
  await page.screenshot({ path: 'screenshots/modal-falha.png', fullPage: true });
  // focus stays in the dialog
  for (let i = 0; i < 8; i++) {
    await page.keyboard.press('Tab');
    expect(await dialog.evaluate((d) => d.contains(document.activeElement))).toBe(true);
  }

  expect((await save('d3m0-t0k3n-5gp-1mp0rt')).status()).toBe(200);
  await dialog.getByRole('button', { name: 'Tentar novamente' }).click();
  await expect(dialog.locator('.modal-job')).toContainText('Concluída', { timeout: 60_000 });
  await expect(dialog.getByTestId('resultado')).toContainText('400 clientes em 4 páginas');
  await dialog.getByRole('link', { name: 'Fechar' }).click();
  await expect(page).toHaveURL('/dashboard/importacoes?aba=erro&pagina=1');
});
