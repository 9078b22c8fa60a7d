//! The "Sincronização automática" card of `/integracoes`: when the
//! provider's customers are imported by themselves, and what.

use leptos::prelude::*;

use crate::api::schedule::{
    get_schedule, Preset, SaveSchedule, ScheduleForm, ScheduleScreen, HOUR_STEPS,
};
use crate::ui::common::{ErrorAlert, Loaded};
use crate::ui::field::{action_errors, Field, FieldError, FormErrors};
use crate::ui::format;
use crate::ui::server_form::{Fields, ServerForm};

#[component]
pub fn ScheduleCard() -> impl IntoView {
    let save = ServerAction::<SaveSchedule>::new();
    // read again only after a successful save: a refused one keeps the
    // form as the admin left it, with the message next to the field
    let saved = RwSignal::new(0u32);
    Effect::new(move |_| {
        if let Some(Ok(_)) = save.value().get() {
            saved.update(|n| *n += 1);
        }
    });
    let screen = super::resource::resource(move || saved.get(), |_| get_schedule());
    view! {
        <article class="card" aria-labelledby="sincronizacao">
            <h2 id="sincronizacao">"Sincronização automática"</h2>
            <p class="muted">
                "Importa os clientes sozinho, no horário escolhido (horário de Brasília). \
                 Se já houver uma importação em andamento, a execução é pulada."
            </p>
            <Loaded resource=screen let:s>
                <ScheduleSettings s save/>
            </Loaded>
        </article>
    }
}

#[component]
fn ScheduleSettings(s: ScheduleScreen, save: ServerAction<SaveSchedule>) -> impl IntoView {
    let v = s.view;
    let cron = v.input.cron.clone();
    let day = |d: Option<chrono::NaiveDate>| d.map(|d| d.to_string()).unwrap_or_default();
    let (from, to) = (day(v.input.signup_from), day(v.input.signup_to));
    let errors = action_errors(save);
    let preset = Preset::of(&v.input.cron);
    let mode = RwSignal::new(preset.mode());
    let (time, hours) = match preset {
        Preset::Daily { hour, minute } => (format!("{hour:02}:{minute:02}"), 24),
        Preset::EveryHours(n) => ("02:00".to_owned(), n),
        Preset::Custom => ("02:00".to_owned(), 24),
    };
    let hours = if HOUR_STEPS.contains(&hours) {
        hours
    } else {
        12
    };
    let status = match (&v.next_run, &v.pause_reason) {
        (Some(next), _) => view! {
            <p class="alert alert-info" role="status" data-testid="proxima-execucao">
                {format!("Próxima execução: {}", format::date_time(*next))}
            </p>
        }
        .into_any(),
        (None, Some(reason)) => view! {
            <div class="alert alert-error" role="status" data-testid="agendamento-pausado">
                {format!("{reason} Corrija a causa e salve de novo para retomar.")}
            </div>
        }
        .into_any(),
        (None, None) => {
            view! { <p class="muted">"Sincronização automática desligada."</p> }.into_any()
        }
    };
    let last = v.last_run.map(|t| {
        view! { <p class="muted">{format!("Última execução agendada: {}", format::date_time(t))}</p> }
    });
    let choice = move |value: &'static str, label: &'static str| {
        view! {
            <label class="radio">
                <input type="radio" name="form[mode]" value=value
                    prop:checked=move || mode.get() == value on:change=move |_| mode.set(value)/>
                {label}
            </label>
        }
    };
    view! {
        {status}
        {last}
        <ServerForm action=save read=read_schedule class="form" novalidate=true>
            <label class="checkbox">
                <input type="checkbox" name="form[active]" checked=v.input.active/>
                "Ativar a sincronização automática"
            </label>
            <FieldError field="ativo" errors/>
            <fieldset class="field">
                <legend>"Quando"</legend>
                {choice("diario", "Diariamente às")}
                {choice("horas", "A cada N horas")}
                {choice("personalizado", "Personalizado (cron)")}
                <FieldError field="modo" errors/>
            </fieldset>
            <Show when=move || mode.get() == "diario">
                <Field id="horario" name="form[time]" label="Horário" kind="time" value=time.clone() errors/>
            </Show>
            <Show when=move || mode.get() == "horas">
                <HoursSelect hours errors/>
            </Show>
            <Show when=move || mode.get() == "personalizado">
                <Field id="cron" name="form[cron]" label="Expressão cron" value=cron.clone()
                    placeholder="0 2 * * *" maxlength=100
                    hint="Cinco campos: minuto, hora, dia do mês, mês, dia da semana (horário de Brasília)."
                    errors/>
            </Show>
            <p class="field-hint">
                {format!("Intervalo mínimo entre execuções: {} minutos.", s.min_interval_minutes)}
            </p>
            <fieldset class="field">
                <legend>"O que importar"</legend>
                <label class="checkbox">
                    <input type="checkbox" name="form[incremental]" checked=v.input.incremental/>
                    "Somente o que mudou desde a última importação concluída"
                </label>
                <label class="checkbox">
                    <input type="checkbox" name="form[only_active]" checked=v.input.only_active/>
                    "Somente contratos ativos"
                </label>
                <div class="field-row">
                    <Field id="agenda_cadastro_inicio" name="form[signup_from]" label="Clientes cadastrados a partir de"
                        kind="date" value=from errors/>
                    <Field id="agenda_cadastro_fim" name="form[signup_to]" label="Clientes cadastrados até"
                        kind="date" value=to errors/>
                </div>
            </fieldset>
            <Field id="pausar_apos_falhas" name="form[pause_after_failures]" kind="number"
                label="Pausar após quantas falhas seguidas"
                value=v.input.pause_after_failures.to_string() errors/>
            {move || {
                save.value().get().map(|r| match r {
                    Ok(_) => view! { <div class="alert alert-success" role="status">"Sincronização salva."</div> }.into_any(),
                    Err(e) => view! { <ErrorAlert message=e.message/> }.into_any(),
                })
            }}
            <div class="actions">
                <button type="submit" class="btn" disabled=move || save.pending().get()>"Salvar sincronização"</button>
            </div>
        </ServerForm>
    }
}

#[component]
fn HoursSelect(hours: u32, errors: FormErrors) -> impl IntoView {
    view! {
        <div class="field">
            <label for="intervalo_horas">"Intervalo"</label>
            <select id="intervalo_horas" name="form[hours]" aria-describedby="intervalo_horas-erro">
                {HOUR_STEPS
                    .into_iter()
                    .map(|n| {
                        let label = if n == 1 { "A cada hora".to_owned() } else { format!("A cada {n} horas") };
                        view! { <option value=n.to_string() selected=n == hours>{label}</option> }
                    })
                    .collect_view()}
            </select>
            <FieldError field="intervalo_horas" errors/>
        </div>
    }
}

fn read_schedule(f: &Fields) -> SaveSchedule {
    SaveSchedule {
        form: ScheduleForm {
            active: f.optional("form[active]"),
            mode: f.text("form[mode]"),
            time: f.optional("form[time]"),
            hours: f.optional("form[hours]"),
            cron: f.optional("form[cron]"),
            incremental: f.optional("form[incremental]"),
            only_active: f.optional("form[only_active]"),
            signup_from: f.optional("form[signup_from]"),
            signup_to: f.optional("form[signup_to]"),
            pause_after_failures: f.text("form[pause_after_failures]"),
        },
    }
}
