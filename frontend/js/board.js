// The board for all vacancies (board.html), with the vacancy filter kept in the address.

import { api, ApiError } from "./api.js";
import { mountBoard } from "./board-view.js";
import { $ } from "./dom.js";
import { currentUser, showFatal, wireLogout } from "./layout.js";

async function init() {
  wireLogout();
  try {
    await currentUser();
    const [vacancies, team] = await Promise.all([api.get("/api/vacancies/?limit=200"), api.get("/api/team/")]);
    mountBoard($("#board"), { vacancies: vacancies.data, team });
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return;
    showFatal(error);
  }
}

init();
