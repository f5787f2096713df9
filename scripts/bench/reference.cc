// reference.cc: the C++ reference for scripts/bench.sh. The step3 network
// written directly against libtorch's C++ API, trained the plain way: the
// whole training set normalised once into one in-memory tensor, batches of
// 64 gathered from a random permutation, no augmentation; then evaluation
// in batches of 1000 under no-grad. It prints one JSON line.
//
//   reference MNIST_RAW_DIR THREADS WARMUP BATCHES
//
// MNIST_RAW_DIR holds the four files uncompressed.

#include <torch/torch.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

namespace nn = torch::nn;

// The IDX body of an MNIST file, as uint8 (header skipped).
torch::Tensor read_idx(const std::string &path, int header, std::vector<int64_t> shape) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open " + path);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  int64_t n = 1;
  for (auto d : shape) n *= d;
  if (static_cast<int64_t>(bytes.size()) != header + n) throw std::runtime_error("bad size: " + path);
  return torch::from_blob(bytes.data() + header, shape, torch::kUInt8).clone();
}

torch::Tensor normalise(const torch::Tensor &pixels) {
  return (pixels.to(torch::kFloat32) / 255 - 0.1307) / 0.3081;
}

// step3, as models/models.go builds it: conv → BN → ReLU → Dropout blocks.
nn::Sequential step3() {
  nn::Sequential s;
  auto block = [&](int in, int out, int pad, bool dropout) {
    s->push_back(nn::Conv2d(nn::Conv2dOptions(in, out, 3).padding(pad).bias(false)));
    s->push_back(nn::BatchNorm2d(out));
    s->push_back(nn::ReLU(nn::ReLUOptions().inplace(true)));
    if (dropout) s->push_back(nn::Dropout(0.05));
  };
  block(1, 14, 1, true);
  block(14, 14, 1, true);
  s->push_back(nn::MaxPool2d(2));
  block(14, 14, 1, true);
  block(14, 14, 1, true);
  s->push_back(nn::MaxPool2d(2));
  block(14, 10, 0, true);
  block(10, 16, 0, false);
  s->push_back(nn::AdaptiveAvgPool2d(1));
  s->push_back(nn::Conv2d(nn::Conv2dOptions(16, 10, 1).bias(false)));
  s->push_back(nn::Flatten());
  s->push_back(nn::LogSoftmax(1));
  return s;
}

double peak_rss_mb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024;
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc != 5) {
    std::cerr << "usage: reference MNIST_RAW_DIR THREADS WARMUP BATCHES\n";
    return 2;
  }
  std::string dir = argv[1];
  int threads = std::stoi(argv[2]), warmup = std::stoi(argv[3]), batches = std::stoi(argv[4]);
  at::set_num_threads(threads);
  torch::manual_seed(1);

  auto train_x = normalise(read_idx(dir + "/train-images-idx3-ubyte", 16, {60000, 1, 28, 28}));
  auto train_y = read_idx(dir + "/train-labels-idx1-ubyte", 8, {60000}).to(torch::kInt64);
  auto test_x = normalise(read_idx(dir + "/t10k-images-idx3-ubyte", 16, {10000, 1, 28, 28}));
  auto test_y = read_idx(dir + "/t10k-labels-idx1-ubyte", 8, {10000}).to(torch::kInt64);

  auto model = step3();
  int64_t params = 0;
  for (const auto &p : model->parameters()) params += p.numel();
  torch::optim::SGD opt(model->parameters(), torch::optim::SGDOptions(0.1).momentum(0.9));

  model->train();
  auto perm = torch::randperm(60000, torch::kInt64);
  const int64_t bs = 64, per_epoch = 60000 / bs;
  auto start = std::chrono::steady_clock::now();
  int64_t images = 0;
  for (int b = 0; b < warmup + batches; b++) {
    if (b == warmup) start = std::chrono::steady_clock::now();
    auto idx = perm.slice(0, (b % per_epoch) * bs, (b % per_epoch + 1) * bs);
    auto x = train_x.index_select(0, idx), y = train_y.index_select(0, idx);
    opt.zero_grad();
    auto out = model->forward(x);
    auto loss = torch::nll_loss(out, y);
    loss.backward();
    opt.step();
    loss.item<float>();
    if (b >= warmup) images += bs;
  }
  double train_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  model->eval();
  torch::NoGradGuard no_grad;
  model->forward(test_x.slice(0, 0, 1000));  // warm-up batch
  start = std::chrono::steady_clock::now();
  int64_t correct = 0;
  for (int64_t i = 0; i < 10000; i += 1000) {
    auto out = model->forward(test_x.slice(0, i, i + 1000));
    correct += out.argmax(1).eq(test_y.slice(0, i, i + 1000)).sum().item<int64_t>();
  }
  double eval_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("{\"impl\":\"cpp\",\"threads\":%d,\"params\":%lld,\"train_img_per_s\":%.1f,\"eval_img_per_s\":%.1f,\"peak_rss_mb\":%.1f}\n",
              at::get_num_threads(), static_cast<long long>(params), images / train_s, 10000 / eval_s, peak_rss_mb());
  return 0;
}
